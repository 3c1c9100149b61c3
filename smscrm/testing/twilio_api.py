"""A cheap, realistic local Twilio Messages API (2010-04-01) on aiohttp, for the throughput
benchmark and the concurrency tests: latency, a per-account concurrency cap (429, code 20429),
5xx errors and hung requests (the message is created, the answer never comes).

Same wire format as ``messaging/tests/fake_twilio.py`` (paths, basic auth, error JSON, resource).
Never imports Django: the benchmark runs it as a bare process, with its own GIL.

In process (its own event loop in a daemon thread)::

    with TwilioApiFake(latency=0.01, concurrency=5, seed=1) as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        ...
        fake.stats()["created"], fake.log(), fake.created_to(), fake.configure(error_share=0.1)

As a process::

    python -m smscrm.testing.twilio_api --port 0 --latency 0.2 --concurrency 100 [--account SID:TOKEN ...]
    # prints "listening http://127.0.0.1:PORT", serves until SIGTERM/SIGINT, exits 0
    remote_stats(url), remote_reset(url), remote_configure(url, latency=0.5)   # or FakeProcess(...)

Control endpoints (no auth): ``GET /_fake/stats``, ``POST /_fake/reset``, ``POST /_fake/config``
(a JSON object of any of CONFIG_KEYS, applied live).

In flight: an account's request counts from its arrival until its answer is written, or until the
fake drops the connection of a hung request. A client that gives up early does not free its slot:
like Twilio, the fake finishes the request (and creates the message) anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import hmac
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl

from aiohttp import web

from messaging.tests.fake_twilio import API_VERSION, E164, ERROR_MESSAGES, error_body, num_segments

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


def _dumps(payload) -> bytes:
    return json.dumps(payload).encode()


TOO_MANY = _dumps(error_body(429, 20429, ERROR_MESSAGES[20429]))
SERVER_ERRORS = {status: _dumps(error_body(status, 20500, ERROR_MESSAGES[20500])) for status in (500, 503)}
UNAUTHORIZED = _dumps(
    error_body(401, 20003, ERROR_MESSAGES[20003]) | {"detail": "Your AccountSid or AuthToken was incorrect."}
)
UNAUTHORIZED_HEADERS = {"Content-Type": JSON_TYPE, "WWW-Authenticate": 'Basic realm="Twilio API"'}


def _validate(form: dict[str, str]) -> tuple[int, str] | None:
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


def _check_config(values: dict) -> dict:
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
            _check_config(
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
        return self._call(self._apply, _check_config(values))

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
                invalid = _validate(form)
                if invalid is not None:
                    counters["invalid_4xx"] += 1
                    body = _dumps(error_body(400, invalid[0], invalid[1]))
                    response = web.Response(status=400, body=body, headers=headers)
                elif draw < self.error_share + self.timeout_share:
                    self._create(account, form, arrived)
                    counters["timeouts"] += 1
                    return await self._hang(request)
                else:
                    entry = self._create(account, form, arrived)
                    counters["answered_201"] += 1
                    body = _dumps(self._resource(entry, "queued"))
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
            return web.Response(status=404, body=_dumps(body), headers=headers)
        status = "delivered" if time.time() - entry[5] >= self.deliver_after else "sent"
        return web.Response(status=200, body=_dumps(self._resource(entry, status)), headers=headers)

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
            return web.json_response({"config": self._apply(_check_config(values))})
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


# -- client side, for the benchmark (stdlib only) -------------------------------------------------


def _control(url: str, path: str, payload: dict | None = None, method: str = "POST", timeout: float = 10) -> dict:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http URL: {url!r}")
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(  # noqa: S310 (http only, checked above)
        url.rstrip("/") + path,
        data=data if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http only, checked above)
        return json.loads(response.read())


def remote_stats(url: str, timeout: float = 10) -> dict:
    return _control(url, "/_fake/stats", method="GET", timeout=timeout)


def remote_reset(url: str, timeout: float = 10) -> dict:
    return _control(url, "/_fake/reset", timeout=timeout)


def remote_configure(url: str, timeout: float = 10, **values) -> dict:
    """Change settings live (any of CONFIG_KEYS); returns the whole config."""
    return _control(url, "/_fake/config", values, timeout=timeout)["config"]


class FakeProcess:
    """``python -m smscrm.testing.twilio_api`` as a child process: url, cpu_seconds(), stop().

    FakeProcess(latency=0.2, concurrency=100, accounts={"AC..": "token"}) takes the CLI's options."""

    def __init__(self, accounts: dict[str, str] | None = None, *, startup_timeout: float = 30, **options):
        argv = [sys.executable, "-m", "smscrm.testing.twilio_api"]
        options.setdefault("port", 0)
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        for sid, token in (accounts or {}).items():
            argv += ["--account", f"{sid}:{token}"]
        root = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, text=True)
        self.url = self._await_listening(startup_timeout)

    def _await_listening(self, timeout: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = result[0] if result else ""
        if not line.startswith(LISTENING):
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"the fake did not start: {line!r} (exit code {self.process.returncode})")
        return line[len(LISTENING) :].strip()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the fake has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict:
        return remote_stats(self.url)

    def reset(self) -> dict:
        return remote_reset(self.url)

    def configure(self, **values) -> dict:
        return remote_configure(self.url, **values)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit code (0 on a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- as a process ----------------------------------------------------------------------------------


def _account(value: str) -> tuple[str, str]:
    sid, sep, token = value.partition(":")
    if not sep or not sid or not token:
        raise argparse.ArgumentTypeError("expected SID:TOKEN")
    return sid, token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smscrm.testing.twilio_api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--latency-jitter", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--error-share", type=float, default=0.0)
    parser.add_argument("--timeout-share", type=float, default=0.0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--deliver-after", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--account", type=_account, action="append", help="SID:TOKEN (repeatable; none: any)")
    args = parser.parse_args(argv)
    try:
        fake = TwilioApiFake(
            dict(args.account) if args.account else None,
            latency=args.latency,
            latency_jitter=args.latency_jitter,
            concurrency=args.concurrency,
            error_share=args.error_share,
            timeout_share=args.timeout_share,
            hang_seconds=args.hang_seconds,
            deliver_after=args.deliver_after,
            seed=args.seed,
            host=args.host,
            port=args.port,
        )
    except ValueError as exc:
        parser.error(str(exc))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        url = await fake.serve()
        print(LISTENING + url, flush=True)
        try:
            await stop.wait()
        finally:
            await fake.shutdown()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
