"""The fake Twilio API's wire format and settings: the settings it takes live (CONFIG_KEYS), the
counters it keeps, its routes, its canned error answers, and the checks of a create's form and
of a configuration (smscrm.testing.twilio_api)."""

from __future__ import annotations

import json

from messaging.tests.fake_twilio import API_VERSION, E164, ERROR_MESSAGES, error_body

CONFIG_KEYS = (
    "latency",
    "latency_jitter",
    "concurrency",
    "error_share",
    "timeout_share",
    "hang_seconds",
    "deliver_after",
)
COUNTERS = (
    "requests",  # message-create POSTs received (401s included)
    "unauthorized",
    "created",
    "answered_201",
    "rejected_429",
    "errors_5xx",
    "timeouts",  # created, then hung and dropped without an answer
    "invalid_4xx",
    "client_gone",  # answers (201, 4xx, 5xx) whose client had already hung up
    "duplicates",  # created again: same (account, To, Body) as an earlier created message
    "duplicate_to",  # created again: same (account, To) as an earlier created message, any Body
)

JSON_TYPE = "application/json; charset=utf-8"
MESSAGES_ROUTE = f"/{API_VERSION}/Accounts/{{account}}/Messages.json"
MESSAGE_ROUTE = f"/{API_VERSION}/Accounts/{{account}}/Messages/{{sid}}.json"
LISTENING = "listening "


def dumps(payload) -> bytes:
    return json.dumps(payload).encode()


TOO_MANY = dumps(error_body(429, 20429, ERROR_MESSAGES[20429]))
SERVER_ERRORS = {status: dumps(error_body(status, 20500, ERROR_MESSAGES[20500])) for status in (500, 503)}
UNAUTHORIZED = dumps(
    error_body(401, 20003, ERROR_MESSAGES[20003]) | {"detail": "Your AccountSid or AuthToken was incorrect."}
)
UNAUTHORIZED_HEADERS = {"Content-Type": JSON_TYPE, "WWW-Authenticate": 'Basic realm="Twilio API"'}


def validate(form: dict[str, str]) -> tuple[int, str] | None:
    """The existing fake's checks: (code, message) of the 400, or None when the form is fine."""
    to = form.get("To", "")
    if not to:
        return 21604, ERROR_MESSAGES[21604]
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 21603, ERROR_MESSAGES[21603]
    if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
        return 21602, ERROR_MESSAGES[21602]
    if not E164.match(to):
        return 21211, f"Invalid 'To' Phone Number: {to}"
    if len(form.get("Body", "")) > 1600:
        return 21617, ERROR_MESSAGES[21617]
    return None


def check_config(values: dict) -> dict:
    """Validated, typed config values; ValueError on an unknown key or a bad value."""
    checked = {}
    for key, value in values.items():
        if key not in CONFIG_KEYS:
            raise ValueError(f"unknown setting {key!r} (known: {', '.join(CONFIG_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{key}: a number, not {value!r}")
        number = int(value) if key == "concurrency" else float(value)
        if not number >= 0:  # negative, or NaN
            raise ValueError(f"{key}: must be >= 0, not {value!r}")
        if key.endswith("_share") and number > 1:
            raise ValueError(f"{key}: a share in [0, 1], not {value!r}")
        checked[key] = number
    return checked
