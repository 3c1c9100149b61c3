"""The aiohttp fake of Twilio's Messages API (TwilioApiFake): its state, the create and fetch
handlers with their latency, concurrency cap and faults, the control endpoints, and serving
in process (a daemon thread) or on a running loop (smscrm.testing.twilio_api)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import hmac
import random
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

from aiohttp import web

from messaging.tests.fake_twilio import API_VERSION, error_body, num_segments
from smscrm.testing.twilio_api.wire import (
    CONFIG_KEYS,
    COUNTERS,
    JSON_TYPE,
    MESSAGE_ROUTE,
    MESSAGES_ROUTE,
    SERVER_ERRORS,
    TOO_MANY,
    UNAUTHORIZED,
    UNAUTHORIZED_HEADERS,
    check_config,
    dumps,
    validate,
)


class TwilioApiFake:
    """The aiohttp fake. Its state lives on its event loop; stats(), log(), created_to(),
    configure() and reset() are safe to call from any thread."""

    def __init__(
        self,
        accounts: dict[str, str] | None = None,
        *,
        latency: float = 0.2,
        latency_jitter: float = 0.0,
        concurrency: int = 100,
        error_share: float = 0.0,
        timeout_share: float = 0.0,
        hang_seconds: float = 30.0,
        deliver_after: float = 1.0,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        # accounts: sid → auth token; None: any sid whose username is the path's sid, any non-empty password
        self.accounts = dict(accounts) if accounts is not None else None
        self.host, self.port = host, port
        self.latency = self.latency_jitter = self.error_share = self.timeout_share = 0.0
        self.hang_seconds = self.deliver_after = 0.0
        self.concurrency = 0
        self._apply(
            check_config(
                {
                    "latency": latency,
                    "latency_jitter": latency_jitter,
                    "concurrency": concurrency,
                    "error_share": error_share,
                    "timeout_share": timeout_share,
                    "hang_seconds": hang_seconds,
                    "deliver_after": deliver_after,
                }
            )
        )
        self._rng = random.Random(seed)  # noqa: S311 (reproducible fault injection, not crypto)
        self._in_flight: dict[str, int] = {}
        self._auth_cache: dict[str, tuple[str, str] | None] = {}
        self._dates: tuple[int, str] = (-1, "")
        self._toggle_503 = False
        self._reset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- state (event loop only) -----------------------------------------------------------------

    def _reset(self) -> None:
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._log: list[tuple] = []  # (account_sid, to, from, body, sid, created_at, messaging_service_sid)
        self._by_sid: dict[str, tuple] = {}
        self._seen_body: set[tuple[str, str, str]] = set()
        self._seen_to: set[tuple[str, str]] = set()
        self._created_by_account: dict[str, int] = {}
        self._requests_by_second: dict[int, int] = {}
        self._rejected_by_second: dict[int, int] = {}
        self._max_in_flight = {account: n for account, n in self._in_flight.items() if n}

    def _apply(self, values: dict) -> dict:
        for key, value in values.items():
            setattr(self, key, value)
        return self._config()

    def _config(self) -> dict:
        return {key: getattr(self, key) for key in CONFIG_KEYS}

    def _snapshot(self) -> dict:
        stats = dict(self.counters)
        stats.update(
            max_in_flight=dict(self._max_in_flight),
            in_flight={account: n for account, n in self._in_flight.items() if n},
            first_created_at=self._log[0][5] if self._log else None,
            last_created_at=self._log[-1][5] if self._log else None,
            created_by_account=dict(self._created_by_account),
            requests_by_second=dict(self._requests_by_second),
            rejected_by_second=dict(self._rejected_by_second),
            config=self._config(),
        )
        return stats

    def _log_dicts(self) -> list[dict]:
        keys = ("account_sid", "to", "from", "body", "sid", "created_at", "messaging_service_sid", "arrived_at")
        return [dict(zip(keys, entry, strict=True)) for entry in self._log]

    def _created_to(self) -> Counter:
        return Counter(entry[1] for entry in self._log)

    # -- thread-safe API -------------------------------------------------------------------------

    def _call(self, fn, *args):
        """Run ``fn`` on the fake's loop (directly when already there, or when it isn't running)."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            return fn(*args)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def stats(self) -> dict:
        return self._call(self._snapshot)

    def log(self) -> list[dict]:
        """The created messages, in creation order."""
        return self._call(self._log_dicts)

    def created_to(self) -> Counter:
        return self._call(self._created_to)

    def reset(self) -> None:
        """Forget the log and the counters (requests still in flight stay counted in flight)."""
        self._call(self._reset)

    def configure(self, **values) -> dict:
        """Change any of CONFIG_KEYS live; returns the whole config."""
        return self._call(self._apply, check_config(values))

    # -- HTTP ------------------------------------------------------------------------------------

    def _authenticate(self, account: str, header: str | None) -> bool:
        if not header:
            return False
        cache = self._auth_cache
        try:
            auth = cache[header]
        except KeyError:
            auth = None
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "basic":
                try:
                    username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    sep = ""
                if sep:
                    auth = (username, password)
            if len(cache) > 4096:
                cache.clear()
            cache[header] = auth
        if auth is None or auth[0] != account:
            return False
        if self.accounts is None:
            return bool(auth[1])
        token = self.accounts.get(account)
        return token is not None and hmac.compare_digest(token.encode(), auth[1].encode())

    def _date(self, when: float) -> str:
        second = int(when)
        if self._dates[0] != second:
            self._dates = (second, format_datetime(datetime.fromtimestamp(second, UTC)))
        return self._dates[1]

    def _resource(self, entry: tuple, status: str) -> dict:
        account, to, from_, body, sid, created_at, service, _arrived = entry
        created = self._date(created_at)
        return {
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": created,
            "date_sent": None if status == "queued" else created,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "AUD",
            "sid": sid,
            "status": status,
            "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{account}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json",
        }

    def _create(self, account: str, form: dict[str, str], arrived_at: float) -> tuple:
        counters = self.counters
        to, body = form["To"], form.get("Body", "")
        now = time.time()
        entry = (
            account,
            to,
            form.get("From") or None,
            body,
            "SM" + secrets.token_hex(16),
            now,
            form.get("MessagingServiceSid") or None,
            arrived_at,  # when its request came in (the call started); created_at is after the latency
        )
        self._log.append(entry)
        self._by_sid[entry[4]] = entry
        counters["created"] += 1
        self._created_by_account[account] = self._created_by_account.get(account, 0) + 1
        key = (account, to, body)
        if key in self._seen_body:
            counters["duplicates"] += 1
        else:
            self._seen_body.add(key)
        if (account, to) in self._seen_to:
            counters["duplicate_to"] += 1
        else:
            self._seen_to.add((account, to))
        return entry

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        counters = self.counters
        counters["requests"] += 1
        arrived = time.time()
        second = int(arrived)
        self._requests_by_second[second] = self._requests_by_second.get(second, 0) + 1
        account = request.match_info["account"]
        if not self._authenticate(account, request.headers.get("Authorization")):
            counters["unauthorized"] += 1
            return web.Response(status=401, body=UNAUTHORIZED, headers=UNAUTHORIZED_HEADERS)
        in_flight = self._in_flight
        n = in_flight.get(account, 0)
        headers = {
            "Content-Type": JSON_TYPE,
            "Twilio-Request-Id": "RQ" + secrets.token_hex(16),
            "Twilio-Concurrent-Requests": str(n + 1),
        }
        if n >= self.concurrency:
            counters["rejected_429"] += 1
            self._rejected_by_second[second] = self._rejected_by_second.get(second, 0) + 1
            headers["Twilio-Concurrent-Requests"] = str(n)
            return web.Response(status=429, body=TOO_MANY, headers=headers)
        in_flight[account] = n + 1
        if n + 1 > self._max_in_flight.get(account, 0):
            self._max_in_flight[account] = n + 1
        try:
            raw = await request.read()
            delay = self.latency
            if self.latency_jitter:
                delay = max(0.0, self._rng.uniform(delay - self.latency_jitter, delay + self.latency_jitter))
            if delay > 0:
                await asyncio.sleep(delay)
            draw = self._rng.random()
            if draw < self.error_share:
                self._toggle_503 = not self._toggle_503
                status = 503 if not self._toggle_503 else 500
                counters["errors_5xx"] += 1
                response = web.Response(status=status, body=SERVER_ERRORS[status], headers=headers)
            else:
                form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
                invalid = validate(form)
                if invalid is not None:
                    counters["invalid_4xx"] += 1
                    body = dumps(error_body(400, invalid[0], invalid[1]))
                    response = web.Response(status=400, body=body, headers=headers)
                elif draw < self.error_share + self.timeout_share:
                    self._create(account, form, arrived)
                    counters["timeouts"] += 1
                    return await self._hang(request)
                else:
                    entry = self._create(account, form, arrived)
                    counters["answered_201"] += 1
                    body = dumps(self._resource(entry, "queued"))
                    response = web.Response(status=201, body=body, headers=headers)
            transport = request.transport
            if transport is None or transport.is_closing():
                counters["client_gone"] += 1
                return response  # aiohttp drops it quietly
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                counters["client_gone"] += 1
            return response
        finally:
            in_flight[account] -= 1

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        """Hold the connection for hang_seconds (stop() cuts it short), then drop it unanswered.

        A client that gives up first (its read timeout) ends the hang: the request no longer
        counts in flight from then on, as a closed connection no longer holds Twilio's slot."""
        deadline = time.monotonic() + self.hang_seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(0.01, max(deadline - time.monotonic(), 0)))
        transport = request.transport
        if transport is not None:
            transport.close()
        return web.Response()  # unwritable: aiohttp sees the connection gone and sends nothing

    async def _handle_get(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        if not self._authenticate(account, request.headers.get("Authorization")):
            return web.Response(status=401, body=UNAUTHORIZED, headers=UNAUTHORIZED_HEADERS)
        headers = {"Content-Type": JSON_TYPE, "Twilio-Request-Id": "RQ" + secrets.token_hex(16)}
        entry = self._by_sid.get(request.match_info["sid"])
        if entry is None or entry[0] != account:
            body = error_body(404, 20404, f"The requested resource {request.path} was not found")
            return web.Response(status=404, body=dumps(body), headers=headers)
        status = "delivered" if time.time() - entry[5] >= self.deliver_after else "sent"
        return web.Response(status=200, body=dumps(self._resource(entry, status)), headers=headers)

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self._snapshot())

    async def _handle_reset(self, request: web.Request) -> web.Response:
        self._reset()
        return web.json_response({"reset": True})

    async def _handle_config(self, request: web.Request) -> web.Response:
        try:
            values = await request.json() if request.can_read_body else {}
            if not isinstance(values, dict):
                raise ValueError("a JSON object, please")
            return web.json_response({"config": self._apply(check_config(values))})
        except ValueError as exc:  # json.JSONDecodeError included
            return web.json_response({"error": str(exc)}, status=400)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(MESSAGES_ROUTE, self._handle_create)
        app.router.add_get(MESSAGE_ROUTE, self._handle_get)
        app.router.add_get("/_fake/stats", self._handle_stats)
        app.router.add_post("/_fake/reset", self._handle_reset)
        app.router.add_post("/_fake/config", self._handle_config)
        return app

    # -- running ---------------------------------------------------------------------------------

    async def serve(self) -> str:
        """Bind and start serving on the running loop; returns the URL."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.url

    async def shutdown(self) -> None:
        """Drop the hung connections, let the others answer (or cut them after 1 s), close."""
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> TwilioApiFake:
        """Serve from a daemon thread with its own event loop; returns once bound."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="twilio-api-fake", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self.shutdown(), loop).result(timeout=10)
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> TwilioApiFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
