"""Logging: the filters that keep secrets and phone numbers out of every line, the request id
and tenant id each line carries, and the formats (one JSON object per line in production).

Masking: a phone number in a message or its arguments (``+`` and 8 to 15 digits, or an
Australian ``04`` mobile of 10 digits) is written as ``*******`` and its last 3 digits:
``+61412345678``, ``%2B61412345678`` (URL-encoded), ``0412345678`` and the same in groups
(``0412 345 678``, ``+61 412 345 678``, ``0412+345+678`` in a query string) all become
``*******678``. Tokens (``token=``, ``sesame=``, ``password=``… and invitation paths) become
``[redacted]``. Message bodies are never logged by our code.
"""

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

# The request being served (smscrm.requestid), carried into the Celery tasks it enqueues
# (smscrm.celery); the tenant it acts for, when known (tenants.middleware, the API's auth).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_id: ContextVar[int | None] = ContextVar("tenant_id", default=None)

# Query-string or form parameters whose values are credentials.
_SECRET_PARAMS = re.compile(
    r"(?P<name>\b(?:sesame|token|auth_token|password|secret|api_key)=)[^&\s\"']+",
    re.IGNORECASE,
)
# Paths that carry a credential: an invitation's link (/invitations/<token>/).
_SECRET_PATHS = re.compile(r"(?P<name>/invitations/)(?!\[redacted\])[^/\s?\"']+")
# Phone numbers: E.164 (+ and 8 to 15 digits) and Australian mobiles written 04xxxxxxxx. In a URL
# (a search's query string, a Referer, an access-log line) the browser writes the + as %2B.
_PHONES = re.compile(r"(?<![\w+])(?:(?:\+|%2[Bb])\d{5,12}|04\d{5})(?P<last>\d{3})(?!\d)")
# The same written in groups, as people type them into a search box: "0412 345 678",
# "+61 412 345 678", "0412-345-678"; in a URL the spaces are "+" or "%20". Masked when the groups
# hold 9 to 15 digits in all (a time or a version number has fewer, and does not start so). Not
# inside a UUID (a Celery task id: "…-0123-4567-8901-…" follows a word and a dash); a full stop
# after the number ends a sentence, one followed by a digit is a version's next group.
_GROUPED_PHONES = re.compile(r"(?<![\w+%.])(?<!\w-)(?:\+|%2[Bb]|0)\d{1,4}(?:(?:[ .+-]|%20)\d{2,4}){2,4}(?!\w|\.\d)")


def _mask_grouped(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group().replace("%2B", "").replace("%2b", "").replace("%20", ""))
    return f"*******{digits[-3:]}" if 9 <= len(digits) <= 15 else match.group()


def redact(text: str) -> str:
    """Replace every credential in ``text`` (a parameter's value, a path's token) with ``[redacted]``."""
    return _SECRET_PATHS.sub(r"\g<name>[redacted]", _SECRET_PARAMS.sub(r"\g<name>[redacted]", text))


def mask_phones(text: str) -> str:
    """Every phone number in ``text`` as ``*******`` and its last 3 digits."""
    return _GROUPED_PHONES.sub(_mask_grouped, _PHONES.sub(r"*******\g<last>", text))


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message so magic-link tokens, similar secrets and phone numbers
    never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is, never dropped
            return True
        cleaned = mask_phones(redact(message))
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


class ContextFilter(logging.Filter):
    """Puts the current request id and tenant id on the record (``-`` when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        record.tenant_id = tenant_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    tenant_id when known, and the traceback (redacted) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        tenant = getattr(record, "tenant_id", "-")
        if tenant != "-":
            line["tenant_id"] = tenant
        if record.exc_info:
            line["exc_info"] = mask_phones(redact(self.formatException(record.exc_info)))
        return json.dumps(line, default=str)


def logging_config(*, level: str, json_lines: bool, twilio_level: str) -> dict:
    """The LOGGING setting: every handler redacts and carries the request context."""
    formatter = (
        {"()": "smscrm.logging.JsonFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s t=%(tenant_id)s] %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context", "redact_secrets"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact_secrets": {"()": "smscrm.logging.RedactSecretsFilter"},
            "context": {"()": "smscrm.logging.ContextFilter"},
        },
        "formatters": {"main": formatter},
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own loggers go through the redacting handler too (its default handlers do
            # not redact: a request logged under DEBUG would print an invitation link in full).
            # django.server is runserver's access log: its request line carries the magic link.
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # The twilio SDK logs every request and its headers at INFO: hundreds of lines a
            # second when sending. A failed hand-off is logged once by messaging.backends.twilio.
            "twilio": {"level": twilio_level},
        },
    }
