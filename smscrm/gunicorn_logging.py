"""gunicorn's logger: paths redacted and phone numbers masked like every other line (smscrm.logging)."""

from gunicorn.glogging import Logger

from smscrm.logging import mask_phones, redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r", "q", "f"):  # path, request line, query string, referer
            if isinstance(atoms.get(key), str):
                atoms[key] = mask_phones(redact(atoms[key]))
        return atoms
