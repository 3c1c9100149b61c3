"""Secrets and signatures of event webhooks, the Standard Webhooks way (standardwebhooks.com).

Each request carries ``webhook-id`` (the event's id: the same on every attempt, so receivers can
drop a repeat), ``webhook-timestamp`` (this attempt's time, seconds since the epoch) and
``webhook-signature`` (``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body`` with the
secret's bytes). Receivers verify with any Standard Webhooks library:
``Webhook(secret).verify(body, headers)``.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32


def secret_new() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def body_bytes(payload: dict) -> bytes:
    """The request body: the stored payload as compact UTF-8 JSON (what the signature covers)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(*, secret: str, event_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The headers of one attempt: content type and the three Standard Webhooks headers."""
    return {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=event_id, timestamp=at, data=body),
    }
