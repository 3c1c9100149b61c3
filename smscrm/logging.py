"""Log filters that keep secrets out of every log line."""

import logging
import re

# Query-string or form parameters whose values are credentials.
_SECRET_PARAMS = re.compile(
    r"(?P<name>\b(?:sesame|token|auth_token|password|secret|api_key)=)[^&\s\"']+",
    re.IGNORECASE,
)
# Paths that carry a credential: an invitation's link (/invitations/<token>/).
_SECRET_PATHS = re.compile(r"(?P<name>/invitations/)(?!\[redacted\])[^/\s?\"']+")


def redact(text: str) -> str:
    """Replace every credential in ``text`` (a parameter's value, a path's token) with ``[redacted]``."""
    return _SECRET_PATHS.sub(r"\g<name>[redacted]", _SECRET_PARAMS.sub(r"\g<name>[redacted]", text))


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message so magic-link tokens and similar never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is, never dropped
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True
