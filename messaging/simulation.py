"""How the simulator reports delivery, and people reply: signed webhooks through our own views.

Each accepted message gets a "sent" callback, then its final status from SMS_SIMULATOR_MIX,
signed with the account's auth token exactly as Twilio signs them. They travel over HTTP to
the callback URL when SMS_SIMULATOR_CALLBACKS is "http" (a server runs, as under `make run`),
or through the same view in-process otherwise, so both paths exercise signature checks.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid

from django.conf import settings
from django.test import RequestFactory
from django.urls import resolve, reverse
from twilio.request_validator import RequestValidator

from messaging.backends.simulator import final_status, parse_mix
from messaging.models import ProviderAccount, SendingNumber

logger = logging.getLogger(__name__)


def callback_params(*, provider_id: str, account_sid: str, sender: str, to: str, status: str, error_code: str):
    params = {
        "MessageSid": provider_id,
        "SmsSid": provider_id,
        "AccountSid": account_sid,
        "From": sender,
        "To": to,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def deliver_callbacks(callbacks: list[list[str]]) -> int:
    """Post each message's callbacks; returns how many were accepted (HTTP 2xx)."""
    mix = parse_mix(settings.SMS_SIMULATOR_MIX)
    tokens = {
        account.account_sid: account.token
        for account in ProviderAccount.objects.filter(account_sid__in={c[1] for c in callbacks})
    }
    delivered = 0
    for provider_id, account_sid, sender, to, url in callbacks:
        token = tokens.get(account_sid)
        if token is None:
            continue
        final, code = final_status(provider_id, mix)
        for status, error_code in (("sent", ""), (final, code)):
            params = callback_params(
                provider_id=provider_id,
                account_sid=account_sid,
                sender=sender,
                to=to,
                status=status,
                error_code=error_code,
            )
            signature = RequestValidator(token).compute_signature(url, params)
            delivered += post(url, params, signature)
    return delivered


def simulate_inbound(*, number: SendingNumber, phone: str, body: str) -> tuple[int, str]:
    """A person texting ``body`` from ``phone`` to one of our numbers, as Twilio would post it.

    Signed with the number's account token and posted to the inbound webhook (HTTP or in-process,
    like the status callbacks). Returns (HTTP status, the TwiML we answered).
    """
    url = settings.PUBLIC_BASE_URL + reverse("messaging:inbound_webhook")
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": number.account.account_sid,
        "From": phone,
        "To": number.sender,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(number.account.token).compute_signature(url, params)
    return exchange(url, params, signature)


def post(url: str, params: dict, signature: str) -> bool:
    return 200 <= exchange(url, params, signature)[0] < 300


def exchange(url: str, params: dict, signature: str) -> tuple[int, str]:
    if settings.SMS_SIMULATOR_CALLBACKS == "http" and url.startswith(("http://", "https://")):
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            url,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http(s) only, checked above
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            logger.warning("simulator: webhook %s answered %s", url, exc.code)
            return exc.code, ""
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("simulator: webhook %s failed: %s", url, exc)
            return 0, ""
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    request = RequestFactory().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    response = resolve(parsed.path).func(request)  # the same view the URL names
    return response.status_code, response.content.decode()
