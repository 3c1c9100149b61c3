"""Optional error tracking (issue 20): ``SENTRY_DSN`` turns on sentry-sdk with its Django and Celery
integrations; empty, nothing is imported and nothing is sent.

What leaves the machine is scrubbed the way log lines are (smscrm/logging.py): every string in an
event or breadcrumb has its credentials redacted and its phone numbers masked to the last 3 digits.
Beyond that, the things that could carry a message body or a secret are never sent at all: request
bodies and cookies, the Authorization and Cookie headers, and the local variables of stack frames
(a hand-off's locals hold the message text and the provider token). No user e-mail or address is
attached (``send_default_pii`` stays off); the values of credential options (``--auth-token X``)
are taken out of the command line every event carries; events carry the request id and tenant id as tags.
"""

from __future__ import annotations

import re
from typing import Any

from smscrm.logging import mask_phones, redact, request_id, tenant_id

_SECRET_HEADERS = {"authorization", "cookie", "x-twilio-signature", "webhook-signature", "proxy-authorization"}


def scrub(value: Any) -> Any:
    """``value`` with every string in it redacted and phone-masked (dicts and lists walked)."""
    if isinstance(value, str):
        return mask_phones(redact(value))
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


# A command-line option whose value is a credential: --auth-token X, --password=X, --api-key X…
_SECRET_OPTION = re.compile(r"^--?[\w-]*(?:token|secret|password|key|dsn)$", re.IGNORECASE)


def _strip_argv(argv: list) -> list:
    """sys.argv (sentry-sdk's Argv integration adds it to every event) without option values
    that are credentials, whether given as ``--option value`` or ``--option=value``."""
    stripped, hide_next = [], False
    for arg in argv:
        name, equals, _ = str(arg).partition("=")
        if hide_next:
            stripped.append("[redacted]")
        elif _SECRET_OPTION.match(name) and equals:
            stripped.append(f"{name}=[redacted]")
        else:
            stripped.append(arg)
        hide_next = not hide_next and not equals and bool(_SECRET_OPTION.match(name))
    return stripped


def _strip_request(request: dict) -> dict:
    request = {key: item for key, item in request.items() if key not in {"data", "cookies"}}
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            name: "[redacted]" if name.lower() in _SECRET_HEADERS else item for name, item in headers.items()
        }
    return request


def before_send(event: dict, hint: dict | None = None) -> dict:
    """Sentry's last look at an event: drop bodies, cookies and secret headers, tag the request
    and tenant, then redact and mask every string left."""
    if isinstance(event.get("request"), dict):
        event["request"] = _strip_request(event["request"])
    extra = event.get("extra")
    if isinstance(extra, dict) and isinstance(extra.get("sys.argv"), list):
        extra["sys.argv"] = _strip_argv(extra["sys.argv"])
    tags = event.setdefault("tags", {})
    if isinstance(tags, dict):
        tags.setdefault("request_id", request_id.get() or "-")
        tags.setdefault("tenant_id", str(tenant_id.get() or "-"))
    return scrub(event)


def before_breadcrumb(crumb: dict, hint: dict | None = None) -> dict:
    return scrub(crumb)


def init_sentry(dsn: str, *, environment: str, traces_sample_rate: float = 0.0, **options: Any) -> bool:
    """Start sentry-sdk when ``dsn`` is set (``options`` go to ``sentry_sdk.init``; tests pass a
    transport). Returns whether it started."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=before_breadcrumb,
        **options,
    )
    return True
