"""gunicorn's logger, with the request path redacted like every other log line (smscrm.logging)."""

from gunicorn.glogging import Logger

from smscrm.logging import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r", "q", "f"):  # path, request line, query string, referer
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
