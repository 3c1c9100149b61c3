"""How the simulator reports delivery: signed status callbacks through our own webhook.

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

from django.conf import settings
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from messaging.backends.simulator import final_status, parse_mix
from messaging.models import ProviderAccount

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


def post(url: str, params: dict, signature: str) -> bool:
    if settings.SMS_SIMULATOR_CALLBACKS == "http" and url.startswith(("http://", "https://")):
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            url,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http(s) only, checked above
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("simulator: status callback to %s failed: %s", url, exc)
            return False
    from messaging.webhooks import status_callback

    parsed = urllib.parse.urlsplit(url)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    request = RequestFactory().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    return 200 <= status_callback(request).status_code < 300
