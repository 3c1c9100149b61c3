"""Twilio's Programmable Messaging API, through the official ``twilio`` SDK.

One ``twilio.rest.Client`` per (sub)account, all sharing one HTTP client (one requests
Session, so connections are kept alive between messages). Every request goes to
``settings.TWILIO_API_BASE_URL`` (https://api.twilio.com in production, a local fake in tests):
``BaseUrlHttpClient`` swaps the SDK's ``https://api.twilio.com`` prefix for it.

What a send can come back as (docs/twilio.md, "Error codes"):

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

import contextvars
import functools
import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

import aiohttp
import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
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
#: The concurrent-requests count Twilio puts on every answer.
CONCURRENCY_HEADER = "Twilio-Concurrent-Requests"
#: ``SendResult.error_message`` of a RETRY whose request may have reached Twilio (the caller's contract).
UNKNOWN_OUTCOME = "timeout"

CONSEQUENCES = {
    21610: Consequence.DO_NOT_CONTACT,  # the recipient replied STOP to this sender
    21211: Consequence.UNDELIVERABLE,  # invalid To number
    21614: Consequence.UNDELIVERABLE,  # To is not a mobile number
}
RATE_LIMITED = 20429


def rewrite(url: str, base: str) -> str:
    """The SDK's https://api.twilio.com URL on ``base``; any other origin is refused off Twilio."""
    if base == TWILIO_ORIGIN:
        return url
    if url == TWILIO_ORIGIN or url.startswith(TWILIO_ORIGIN + "/"):
        return base + url[len(TWILIO_ORIGIN) :]
    raise TwilioException(f"Refusing to call {url.split('?')[0]} while TWILIO_API_BASE_URL is {base}")


class BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, pointed at ``base_url`` instead of https://api.twilio.com.

    The SDK hands ``request`` fully qualified URLs (``https://api.twilio.com/2010-04-01/...``);
    the origin is replaced and the path and query kept. A URL on any other origin (another Twilio
    product, a region or edge host) is refused when a non-default base URL is set, so tests
    pointed at a fake can never reach the real Twilio.

    The last response of each thread is kept, as the SDK's exceptions drop the headers
    (Retry-After) of the answer they were built from.
    """

    def __init__(self, *, base_url: str | None = None, timeout: float | None = None):
        super().__init__(pool_connections=True, timeout=timeout or settings.TWILIO_TIMEOUT_SECONDS)
        self._base_url = base_url.rstrip("/") if base_url else None
        self._local = threading.local()

    @property
    def base_url(self) -> str:
        return self._base_url or settings.TWILIO_API_BASE_URL.rstrip("/")

    @property
    def last_response(self) -> Response | None:
        return getattr(self._local, "response", None)

    def rewrite(self, url: str) -> str:
        return rewrite(url, self.base_url)

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, **kwargs):
        self._local.response = None
        response = super().request(
            method, self.rewrite(url), params=params, data=data, headers=headers, auth=auth, timeout=timeout, **kwargs
        )
        self._local.response = response
        return response


#: The headers of the last answer in this asyncio task (the SDK's exceptions drop them).
_answer_headers: contextvars.ContextVar = contextvars.ContextVar("twilio_answer_headers", default=None)


@functools.lru_cache(maxsize=256)
def _basic_auth(username: str, password: str) -> str:
    return aiohttp.encode_basic_auth(username, password)


class AsyncBaseUrlHttpClient(AsyncTwilioHttpClient):
    """The SDK's asynchronous HTTP client (aiohttp), on ``base_url``, with one pooled session.

    The session is made on first use, on the event loop that uses it (messaging.handoff runs one
    loop per process), and allows as many connections as there are calls in flight: the hand-off
    engine, not the connector, bounds them per account. Nothing is logged per request.
    """

    def __init__(self, *, base_url: str | None = None, timeout: float | None = None):
        super().__init__(pool_connections=False, timeout=timeout or settings.TWILIO_TIMEOUT_SECONDS)
        self._base_url = base_url.rstrip("/") if base_url else None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return self._base_url or settings.TWILIO_API_BASE_URL.rstrip("/")

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(),  # Twilio's API sets none worth keeping
                # Connect and read bounded separately: a connect timeout proves Twilio never saw it.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=self.timeout),
            )
        return self._session

    async def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ) -> Response:
        _answer_headers.set(None)
        if auth:
            headers = {**(headers or {}), "Authorization": _basic_auth(*auth)}
        async with self._client_session().request(
            method.upper(),
            rewrite(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
        ) as answer:
            text = await answer.text()
            _answer_headers.set(answer.headers)
        return Response(answer.status, text, answer.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
    concurrent = True

    def __init__(self, *, timeout: float | None = None, base_url: str | None = None):
        self.http_client = BaseUrlHttpClient(base_url=base_url, timeout=timeout)
        self.async_http_client = AsyncBaseUrlHttpClient(base_url=base_url, timeout=timeout)
        self._clients: dict[tuple[str, bool], tuple[str, Client]] = {}  # (sid, async) → (token, client)
        self._lock = threading.Lock()

    def client(self, account_sid: str, auth_token: str, *, asynchronous: bool = False) -> Client:
        with self._lock:
            cached = self._clients.get((account_sid, asynchronous))
            if cached is None or cached[0] != auth_token:  # a rotated token replaces the client
                client = Client(
                    account_sid,
                    auth_token,
                    http_client=self.async_http_client if asynchronous else self.http_client,
                    # Not os.environ: TWILIO_REGION/TWILIO_EDGE there would move the host.
                    environment={"TWILIO_ACCOUNT_SID": account_sid},
                )
                cached = self._clients[(account_sid, asynchronous)] = (auth_token, client)
            return cached[1]

    def send(self, messages: Sequence[OutboundSMS]) -> list[SendResult]:
        return [self.send_one(sms) for sms in messages]

    @staticmethod
    def _options(sms: OutboundSMS) -> dict:
        options = {}
        if sms.status_callback:
            options["status_callback"] = sms.status_callback
        if sms.validity_period:
            options["validity_period"] = sms.validity_period
        return options

    def send_one(self, sms: OutboundSMS) -> SendResult:
        client = self.client(sms.account.account_sid, sms.account.auth_token)
        try:
            created = client.messages.create(to=sms.to, from_=sms.sender, body=sms.body, **self._options(sms))
        except (TwilioRestException, TwilioServiceException) as exc:
            response = self.http_client.last_response
            result = self._api_error(sms, exc, response.headers if response else None)
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
            response = self.http_client.last_response
            result = self._accepted(sms, created, response.headers if response else None)
        self._log(sms, result)
        return result

    async def send_async(self, sms: OutboundSMS) -> SendResult:
        """One message through the SDK's async client; the same outcomes as ``send_one``.

        A refusal for too many requests (429) is not logged here: the hand-off engine retries it
        and says once per back-off what it did (messaging.handoff).
        """
        client = self.client(sms.account.account_sid, sms.account.auth_token, asynchronous=True)
        try:
            created = await client.messages.create_async(
                to=sms.to, from_=sms.sender, body=sms.body, **self._options(sms)
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            result = self._api_error(sms, exc, _answer_headers.get())
        except aiohttp.ConnectionTimeoutError as exc:  # never connected: Twilio never saw it
            result = SendResult(sms.reference, Outcome.RETRY, error_message=self._text(sms, f"connect timeout: {exc}"))
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS before anything was sent
            result = SendResult(sms.reference, Outcome.RETRY, error_message=self._text(sms, f"connection error: {exc}"))
        except (TimeoutError, OSError, aiohttp.ClientError, json.JSONDecodeError):
            # A read timeout, a connection dropped after the request went out, a 2xx we cannot read.
            result = SendResult(sms.reference, Outcome.RETRY, error_message=UNKNOWN_OUTCOME)
        else:
            result = self._accepted(sms, created, _answer_headers.get())
        if not result.rate_limited:
            self._log(sms, result)
        return result

    async def aclose(self) -> None:
        await self.async_http_client.close()

    def engine_key(self):
        # Settings are read per request (base URL) or here (timeout): same options, one engine.
        return (type(self), self.async_http_client._base_url, self.async_http_client.timeout)

    def _accepted(self, sms: OutboundSMS, created, headers) -> SendResult:
        if not created.sid:
            return SendResult(sms.reference, Outcome.RETRY, error_message=UNKNOWN_OUTCOME)
        return SendResult(
            sms.reference,
            Outcome.ACCEPTED,
            provider_id=created.sid,
            status=str(created.status or ""),
            price_cents=price_cents(created.price),
            concurrent_requests=concurrent_requests(headers),
        )

    @staticmethod
    def _log(sms: OutboundSMS, result: SendResult) -> None:
        if result.outcome != Outcome.ACCEPTED:
            logger.warning(
                "Twilio %s for message %s (account %s): %s %s",
                result.outcome,
                sms.reference,
                sms.account.account_sid,
                result.error_code or "-",
                result.error_message,
            )

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

    def _api_error(self, sms: OutboundSMS, exc: TwilioRestException | TwilioServiceException, headers) -> SendResult:
        status = int(exc.status or 0)
        code = int(exc.code) if str(exc.code or "").isdigit() else None
        error_code = str(code) if code else str(status)
        if isinstance(exc, TwilioServiceException):
            text = " - ".join(part for part in (exc.title, exc.detail) if part)
        else:
            text = str(exc.msg or "").removeprefix("Unable to create record").removeprefix(":").strip()
        text = self._text(sms, text or f"HTTP {status}")
        if status == 429 or code == RATE_LIMITED:
            return SendResult(
                sms.reference,
                Outcome.RETRY,
                # Whatever code came with it, a 429 is "too many requests" (SendResult.rate_limited).
                error_code=error_code if code == RATE_LIMITED else "429",
                error_message=text,
                retry_after=retry_after(headers.get("Retry-After") if headers else None),
                concurrent_requests=concurrent_requests(headers),
            )
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


def concurrent_requests(headers) -> int | None:
    """Twilio-Concurrent-Requests of an answer, when present and a count."""
    value = headers.get(CONCURRENCY_HEADER) if headers else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
