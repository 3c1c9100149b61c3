"""Twilio's Programmable Messaging API, through the official ``twilio`` SDK.

One ``twilio.rest.Client`` per (sub)account, all sharing one HTTP client (one requests
Session, so connections are kept alive between messages). Every request goes to
``settings.TWILIO_API_BASE_URL`` (https://api.twilio.com in production, a local fake in tests):
``BaseUrlHttpClient`` swaps the SDK's ``https://api.twilio.com`` prefix for it.

What a send can come back as (see docs twilio.md, "Error codes worth handling"):

- 2xx with a sid → ACCEPTED (provider_id = sid, status = Twilio's status, price when given).
- 21610 → REJECTED + DO_NOT_CONTACT; 21211, 21614 → REJECTED + UNDELIVERABLE;
  any other 4xx → REJECTED with Twilio's code and message.
- HTTP 429 / code 20429 → RETRY (retry_after from Retry-After); HTTP 5xx → RETRY.
- No connection at all (refused, DNS, TLS, connect timeout) → RETRY: Twilio never saw it.
- The request went out but no answer came back (read timeout, connection dropped mid-answer,
  a 2xx we cannot read) → RETRY with ``error_message == "timeout"`` (``UNKNOWN_OUTCOME``):
  Twilio may well have taken the message, so the caller must not resend it blindly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ProtocolError

from messaging.backends.base import (
    Consequence,
    OutboundSMS,
    Outcome,
    ProviderCredentials,
    SendResult,
    SmsBackend,
    StatusAnswer,
    StatusLookup,
)

logger = logging.getLogger(__name__)

#: The host the SDK builds every API URL on.
TWILIO_ORIGIN = "https://api.twilio.com"
#: Seconds to wait for Twilio to connect and to answer.
DEFAULT_TIMEOUT = 10.0
#: ``SendResult.error_message`` of a RETRY whose request may have reached Twilio (the caller's contract).
UNKNOWN_OUTCOME = "timeout"

CONSEQUENCES = {
    21610: Consequence.DO_NOT_CONTACT,  # the recipient replied STOP to this sender
    21211: Consequence.UNDELIVERABLE,  # invalid To number
    21614: Consequence.UNDELIVERABLE,  # To is not a mobile number
}
RATE_LIMITED = 20429


class BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, pointed at ``base_url`` instead of https://api.twilio.com.

    The SDK hands ``request`` fully qualified URLs (``https://api.twilio.com/2010-04-01/...``);
    the origin is replaced and the path and query kept. A URL on any other origin (another Twilio
    product, a region or edge host) is refused when a non-default base URL is set, so tests
    pointed at a fake can never reach the real Twilio.

    The last response of each thread is kept, as the SDK's exceptions drop the headers
    (Retry-After) of the answer they were built from.
    """

    def __init__(self, *, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(pool_connections=True, timeout=timeout)
        self._base_url = base_url.rstrip("/") if base_url else None
        self._local = threading.local()

    @property
    def base_url(self) -> str:
        return self._base_url or settings.TWILIO_API_BASE_URL.rstrip("/")

    @property
    def last_response(self) -> Response | None:
        return getattr(self._local, "response", None)

    def rewrite(self, url: str) -> str:
        base = self.base_url
        if base == TWILIO_ORIGIN:
            return url
        if url == TWILIO_ORIGIN or url.startswith(TWILIO_ORIGIN + "/"):
            return base + url[len(TWILIO_ORIGIN) :]
        raise TwilioException(f"Refusing to call {url.split('?')[0]} while TWILIO_API_BASE_URL is {base}")

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, **kwargs):
        self._local.response = None
        response = super().request(
            method, self.rewrite(url), params=params, data=data, headers=headers, auth=auth, timeout=timeout, **kwargs
        )
        self._local.response = response
        return response


class TwilioBackend(SmsBackend):
    """Sends through Twilio; each message's ``account`` says which (sub)account and token to use.

    Timeouts deserve care: a connect timeout means Twilio never saw the request (plain RETRY),
    but a read timeout, or a connection dropped after the request went out, may mean Twilio took
    the message and will deliver it. Those come back as RETRY with ``error_message="timeout"``
    and the caller (campaigns.dispatch) marks the message *unknown* rather than resending it,
    since Twilio cannot be asked by our reference whether it got it (``can_lookup`` is False).
    """

    name = "twilio"
    can_lookup = False

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, base_url: str | None = None):
        self.http_client = BaseUrlHttpClient(base_url=base_url, timeout=timeout)
        self._clients: dict[str, tuple[str, Client]] = {}  # account sid → (token, client)
        self._lock = threading.Lock()

    def client(self, account_sid: str, auth_token: str) -> Client:
        with self._lock:
            cached = self._clients.get(account_sid)
            if cached is None or cached[0] != auth_token:  # a rotated token replaces the client
                client = Client(
                    account_sid,
                    auth_token,
                    http_client=self.http_client,
                    # Not os.environ: TWILIO_REGION/TWILIO_EDGE there would move the host.
                    environment={"TWILIO_ACCOUNT_SID": account_sid},
                )
                cached = self._clients[account_sid] = (auth_token, client)
            return cached[1]

    def send(self, messages: Sequence[OutboundSMS]) -> list[SendResult]:
        return [self.send_one(sms) for sms in messages]

    def send_one(self, sms: OutboundSMS) -> SendResult:
        options = {}
        if sms.status_callback:
            options["status_callback"] = sms.status_callback
        if sms.validity_period:
            options["validity_period"] = sms.validity_period
        client = self.client(sms.account.account_sid, sms.account.auth_token)
        try:
            created = client.messages.create(to=sms.to, from_=sms.sender, body=sms.body, **options)
        except (TwilioRestException, TwilioServiceException) as exc:
            result = self._api_error(sms, exc)
        except requests.exceptions.ConnectTimeout as exc:
            result = SendResult(sms.reference, Outcome.RETRY, error_message=self._text(sms, f"connect timeout: {exc}"))
        except (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError):
            result = SendResult(sms.reference, Outcome.RETRY, error_message=UNKNOWN_OUTCOME)
        except requests.exceptions.ConnectionError as exc:
            if _sent(exc):
                result = SendResult(sms.reference, Outcome.RETRY, error_message=UNKNOWN_OUTCOME)
            else:
                result = SendResult(
                    sms.reference, Outcome.RETRY, error_message=self._text(sms, f"connection error: {exc}")
                )
        except json.JSONDecodeError:  # a 2xx whose body is not JSON: taken, but we cannot tell its sid
            result = SendResult(sms.reference, Outcome.RETRY, error_message=UNKNOWN_OUTCOME)
        else:
            if not created.sid:
                result = SendResult(sms.reference, Outcome.RETRY, error_message=UNKNOWN_OUTCOME)
            else:
                result = SendResult(
                    sms.reference,
                    Outcome.ACCEPTED,
                    provider_id=created.sid,
                    status=str(created.status or ""),
                    price_cents=price_cents(created.price),
                )
        if result.outcome != Outcome.ACCEPTED:
            logger.warning(
                "Twilio %s for message %s (account %s): %s %s",
                result.outcome,
                sms.reference,
                sms.account.account_sid,
                result.error_code or "-",
                result.error_message,
            )
        return result

    def statuses(self, lookups: Sequence[StatusLookup]) -> dict[str, StatusAnswer]:
        """GET each message from the Messages API; one failing look-up is skipped (tried again later)."""
        found: dict[str, StatusAnswer] = {}
        for lookup in lookups:
            client = self.client(lookup.account.account_sid, lookup.account.auth_token)
            try:
                fetched = client.messages(lookup.provider_id).fetch()
            except (TwilioRestException, TwilioServiceException, requests.exceptions.RequestException) as exc:
                logger.warning(
                    "Twilio status of %s (account %s) not fetched: %s",
                    lookup.provider_id,
                    lookup.account.account_sid,
                    exc,
                )
                continue
            found[lookup.provider_id] = StatusAnswer(fetched.status or "", str(fetched.error_code or ""))
        return found

    def fetch_price(self, *, provider_id: str, account: ProviderCredentials) -> int | None:
        """Twilio sets a message's price some time after it is sent; None until it has."""
        client = self.client(account.account_sid, account.auth_token)
        try:
            fetched = client.messages(provider_id).fetch()
        except (TwilioRestException, TwilioServiceException, requests.exceptions.RequestException) as exc:
            logger.warning("Twilio price of %s (account %s) not fetched: %s", provider_id, account.account_sid, exc)
            return None
        return price_cents(fetched.price)

    def _api_error(self, sms: OutboundSMS, exc: TwilioRestException | TwilioServiceException) -> SendResult:
        status = int(exc.status or 0)
        code = int(exc.code) if str(exc.code or "").isdigit() else None
        error_code = str(code) if code else str(status)
        if isinstance(exc, TwilioServiceException):
            text = " - ".join(part for part in (exc.title, exc.detail) if part)
        else:
            text = str(exc.msg or "").removeprefix("Unable to create record").removeprefix(":").strip()
        text = self._text(sms, text or f"HTTP {status}")
        if status == 429 or code == RATE_LIMITED:
            response = self.http_client.last_response
            wait = retry_after(response.headers.get("Retry-After") if response and response.headers else None)
            return SendResult(sms.reference, Outcome.RETRY, error_code=error_code, error_message=text, retry_after=wait)
        if status >= 500 or status < 400:
            return SendResult(sms.reference, Outcome.RETRY, error_code=error_code, error_message=text)
        return SendResult(
            sms.reference,
            Outcome.REJECTED,
            error_code=error_code,
            error_message=text,
            consequence=CONSEQUENCES.get(code, Consequence.NONE),
        )

    @staticmethod
    def _text(sms: OutboundSMS, text: str) -> str:
        """Belt and braces: no error text ever carries the account's auth token."""
        token = sms.account.auth_token
        return text.replace(token, "***") if token else text


def _sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection broke after the request went out (so Twilio may have it)."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", None) or reason  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, ProtocolError)


def price_cents(price) -> int | None:
    """Twilio's price ("-0.0500", in price_unit, negative for a charge) as positive cents, half up."""
    if price in (None, ""):
        return None
    try:
        amount = abs(Decimal(str(price)))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(seconds, 0.0)
