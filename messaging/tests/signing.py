"""Webhook requests signed exactly as Twilio signs them, and the rows they talk about.

``signed`` posts through the real view with ``RequestValidator.compute_signature`` over the
public URL and every parameter; the fixtures (in conftest.py) give a tenant an account, one of
our numbers, a consenting contact and a queued campaign message.
"""

from __future__ import annotations

import itertools

from django.urls import reverse
from twilio.request_validator import RequestValidator

TOKEN = "0123456789abcdef0123456789abcdef"
OUR_NUMBER = "+61485000001"
_sids = itertools.count(1)


def sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def signed(client, path_name, params, *, token=TOKEN, url=None, **headers):
    path = reverse(path_name)
    url = url or "http://127.0.0.1:8000" + path
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def status_params(message, status, *, error_code="", account_sid="AC" + "1" * 32, **extra):
    params = {
        "MessageSid": message.provider_id,
        "SmsSid": message.provider_id,
        "AccountSid": account_sid,
        "From": message.from_sender,
        "To": message.to_phone,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
        **extra,
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def inbound_params(body, *, phone, to=OUR_NUMBER, message_sid=None, account_sid="AC" + "1" * 32, **extra):
    return {
        "MessageSid": message_sid or sid(),
        "SmsMessageSid": "x",
        "AccountSid": account_sid,
        "From": phone,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def post_status(client, message, status, path="messaging:status_callback", **kwargs):
    return signed(client, path, status_params(message, status, **kwargs))


def post_inbound(client, body, *, phone, path="messaging:inbound_webhook", **kwargs):
    return signed(client, path, inbound_params(body, phone=phone, **kwargs))
