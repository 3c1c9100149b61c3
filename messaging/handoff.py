"""Concurrent hand-off: many provider calls in flight per worker, a cap per account across workers.

A provider answers in 150–300 ms, so one call at a time hands over about 4 messages a second.
Twilio allows an account 100 requests in flight (HTTP 429, error 20429, past that), which at
200 ms is 500 messages a second. The engine below keeps calls in flight without ever breaking
a promise of the dispatcher (campaigns.dispatch):

- **One event loop per worker process**, in a daemon thread, running the backend's
  ``send_async`` (the twilio SDK's async client over one pooled aiohttp session). The
  dispatcher's thread submits calls and collects answers; the database stays in its thread.
- **A cap per provider account across every process**: before a call, a permit. Permits live
  in Redis (one Lua script: give back, adapt, take, in one round trip per batch of calls), held
  under a lease per process that every exchange renews: a killed worker's permits come back
  once its lease lapses (HANDOFF_LEASE_SECONDS). Without Redis (the laptop default) they are
  counted in the process. The two stores are messaging.handoff_permits.
- **Adaptive**: the cap is the account's ``max_concurrent_requests``. Each 429 means the
  account was one request over what the provider allows right now (another application on the
  account, a request the provider still counts): it lowers what the account may have in flight
  by one, for every worker; each accepted message lets it creep back by 1/n (one per n accepted
  at n in flight, as TCP's window grows). A storm of refusals lowers it as fast as they come.
  While Twilio's own count of the account's requests in flight (``Twilio-Concurrent-Requests``)
  is at the cap, something else is using the account and the cap does not creep up. The refused message is tried again
  after a jittered pause, up to HANDOFF_RATE_LIMIT_RETRIES times; a 429 never reached Twilio.
- **Chunks**: a call starts only while its chunk is open. The dispatcher closes a chunk (and
  then commits the transaction that holds off a pause) once every call in it has started, so
  no call starts after a pause commits, and at most the calls already in flight finish. A
  call that could not start in time (permits never came) is not sent at all.
- **Every call ends with one result**: an answer, or, for anything unexpected after the request
  may have left, the "timeout" result the dispatcher records as ``unknown``, never resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from messaging.backends.base import OutboundSMS, Outcome, SendResult, SmsBackend
from messaging.handoff_permits import Exchange, LocalPermits, RedisPermits, permits_key_prefix

logger = logging.getLogger(__name__)

#: ``SendResult.error_message`` of a call that never started (its chunk closed first).
NOT_STARTED = "Not handed over: no room at the provider before the chunk closed."
#: How often a process waiting for another's permits asks Redis again (seconds).
POLL_EVERY = 0.025
#: With no call waiting, how long a process lets permits given back gather before one exchange.
GATHER = 0.005
#: Accepted answers counted between two exchanges at most (they let the adapted cap creep back).
REPORT_EVERY = 50


# --- chunks -----------------------------------------------------------------------------------


class Chunk:
    """Calls that may start only while it is open; the dispatcher closes it before it commits."""

    def __init__(self):
        self._cond = threading.Condition()
        self._open = True
        self._unstarted = 0
        self._listeners: list = []
        self.waiting: set[asyncio.Future] = set()  # the engine's: its calls waiting for a permit

    @property
    def is_open(self) -> bool:
        with self._cond:
            return self._open

    def on_close(self, listener) -> None:
        """Call ``listener()`` when the chunk closes (at once if it has)."""
        with self._cond:
            if self._open:
                self._listeners.append(listener)
                return
        listener()

    def expect(self, n: int) -> None:
        with self._cond:
            self._unstarted += n

    def begin(self) -> bool:
        """A call is about to start: may it? (Only while the chunk is open.)"""
        with self._cond:
            if not self._open:
                return False
            self._unstarted -= 1
            if not self._unstarted:
                self._cond.notify_all()
            return True

    def again(self) -> bool:
        """A call refused with 429 would start again later: only while the chunk is open."""
        with self._cond:
            if not self._open:
                return False
            self._unstarted += 1
            return True

    def close(self, *, timeout: float, meanwhile=None) -> int:
        """Wait until every call has started (calling ``meanwhile`` as it waits), then close.

        After ``timeout`` seconds it closes anyway: calls that have not started by then never
        will (they end NOT_STARTED). Returns how many were left unstarted.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if not self._unstarted or time.monotonic() >= deadline:
                    self._open = False
                    listeners, self._listeners = self._listeners, []
                    unstarted = self._unstarted
                    break
                self._cond.wait(min(0.05, max(deadline - time.monotonic(), 0)))
            if meanwhile is not None:
                try:
                    meanwhile()
                except BaseException:
                    self.close(timeout=0)  # whatever went wrong, nothing more starts
                    raise
        for listener in listeners:
            listener()
        return unstarted


# --- the engine -------------------------------------------------------------------------------


@dataclass(eq=False)
class Call:
    """One message on its way: submitted by the dispatcher, answered by the engine."""

    sms: OutboundSMS
    slot: float  # epoch seconds: not before its rate-limit slot
    chunk: Chunk
    tag: Any = None  # the dispatcher's own bookkeeping
    # Its rate-limit keys and their seconds between messages: calls of a key that were held
    # back together (no permit) still start that far apart in this process, not all at once.
    paces: tuple[tuple[str, float], ...] = ()
    result: SendResult | None = None
    started_at: float | None = None


class _Account:
    """An account's permits as this process sees them; one pump talks to the permit store.

    A permit freed by an answer goes straight to this process's next waiting call when there is
    one (no round trip), unless the store said the account is over its cap (a 429 lowered it):
    then it goes back. The store hears of the rest in batches: permits given back, what was
    accepted and refused (for the adaptive cap), and a renewal of the lease while calls are out.
    """

    def __init__(self, engine: Engine, sid: str, cap: int):
        self.engine, self.sid, self.cap = engine, sid, cap
        self.waiters: deque[asyncio.Future] = deque()
        self.held = 0  # permits this process holds in the store (in use, or being given back)
        self.pending = Exchange()
        self.wake = asyncio.Event()
        self.eff = float(cap)
        self.over = False  # the account has more in flight than its cap now: give permits back
        self.failing = False
        self.task = asyncio.get_running_loop().create_task(self.pump())

    def want(self) -> asyncio.Future:
        """A future that resolves when this process may start one more call (a permit)."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self.wake.set()
        return waiter

    def _next_waiter(self) -> asyncio.Future | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def release(self, result: SendResult | None) -> None:
        pending = self.pending
        if result is not None:
            seen = result.concurrent_requests
            # At the cap by the provider's own count while below it by ours: something else uses
            # the account, so that answer does not let the cap creep back.
            pending.grow += result.outcome == Outcome.ACCEPTED and (seen is None or seen < self.cap)
            pending.limited += result.rate_limited
        waiter = None if self.over or pending.limited else self._next_waiter()
        if waiter is not None:
            waiter.set_result(None)  # the permit changes hands here, in the process
        else:
            pending.give += 1
            self.wake.set()
        if pending.limited or pending.grow >= REPORT_EVERY:
            self.wake.set()

    async def pump(self) -> None:
        store = self.engine.permits
        while True:
            waiting = any(not waiter.done() for waiter in self.waiters)
            if waiting:
                timeout = POLL_EVERY  # another process may give permits back meanwhile
            elif self.held:
                timeout = self.engine.lease / 3  # renew the lease while calls are in flight
            else:
                timeout = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()
            while self.waiters and self.waiters[0].done():
                self.waiters.popleft()
            ask, self.pending = self.pending, Exchange()
            ask.want = sum(1 for waiter in self.waiters if not waiter.done())
            if not (ask.want or ask.give or self.held or ask.grow or ask.limited):
                continue
            try:
                granted, self.eff, cut, over = await store.exchange(self.sid, self.cap, ask)
            except Exception as exc:  # the store is down: nothing starts without a permit
                self.pending.give += ask.give
                self.pending.grow += ask.grow
                self.pending.limited += ask.limited
                if not self.failing:
                    logger.warning("hand-off: permits for account %s unavailable: %s", self.sid, exc)
                    self.failing = True
                await asyncio.sleep(0.5)
                self.wake.set()
                continue
            if self.failing:
                logger.warning("hand-off: permits for account %s available again", self.sid)
                self.failing = False
            if cut:
                logger.warning(
                    "hand-off: account %s answered 429 (too many requests); at most %d in flight now",
                    self.sid,
                    math.floor(self.eff),
                )
            self.over = over > 0
            self.held += granted - ask.give
            while granted:
                waiter = self._next_waiter()
                if waiter is None:  # a waiter went away: give its permit back next time
                    self.pending.give += granted
                    self.wake.set()
                    break
                waiter.set_result(None)
                granted -= 1
            # Between rounds trips, let answers gather: one exchange for many of them.
            if not any(not waiter.done() for waiter in self.waiters):
                await asyncio.sleep(GATHER)


class Engine:
    """This process's event loop for provider calls (one per process and backend)."""

    def __init__(self, backend: SmsBackend):
        self.backend = backend
        self.pid = os.getpid()
        self.lease = float(settings.HANDOFF_LEASE_SECONDS)
        self.retries = int(settings.HANDOFF_RATE_LIMIT_RETRIES)
        token = f"{socket.gethostname()}:{self.pid}:{uuid.uuid4().hex[:8]}"
        if settings.REDIS_URL:
            self.permits = RedisPermits(settings.REDIS_URL, prefix=permits_key_prefix(), token=token, lease=self.lease)
        else:
            self.permits = LocalPermits()
        self.done: queue.SimpleQueue[Call] = queue.SimpleQueue()
        self.accounts: dict[str, _Account] = {}
        self.next_start: dict[str, float] = {}  # rate-limit key → earliest next start (monotonic)
        self.tasks: set[asyncio.Task] = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="handoff", daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    # -- the dispatcher's side (its own thread) --------------------------------------------------

    def submit(self, calls: list[Call]) -> None:
        """Start these calls (each when its slot comes and a permit is free)."""
        if calls:
            self.loop.call_soon_threadsafe(self._start, calls)

    def finished(self, timeout: float | None = 0) -> list[Call]:
        """Calls answered since last asked; waits up to ``timeout`` for the first one."""
        calls = []
        try:
            calls.append(self.done.get(timeout=timeout) if timeout else self.done.get_nowait())
        except queue.Empty:
            return calls
        while True:
            try:
                calls.append(self.done.get_nowait())
            except queue.Empty:
                return calls

    def close(self) -> None:
        async def stop():
            for account in self.accounts.values():
                account.task.cancel()
            await self.backend.aclose()
            await self.permits.close()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    # -- the loop's side ------------------------------------------------------------------------

    def _start(self, calls: list[Call]) -> None:
        chunks = {id(call.chunk): call.chunk for call in calls}
        for chunk in chunks.values():
            chunk.on_close(lambda chunk=chunk: self.loop.call_soon_threadsafe(self._chunk_closed, chunk))
        for call in calls:
            task = self.loop.create_task(self._call(call))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    @staticmethod
    def _chunk_closed(chunk: Chunk) -> None:
        """Calls still waiting for a permit when their chunk closed will not start: wake them."""
        for waiter in list(chunk.waiting):
            if not waiter.done():
                waiter.cancel()

    def _account(self, sms: OutboundSMS) -> _Account:
        account = self.accounts.get(sms.account.account_sid)
        if account is None:
            account = self.accounts[sms.account.account_sid] = _Account(
                self, sms.account.account_sid, max(1, sms.account.max_concurrent)
            )
        account.cap = max(1, sms.account.max_concurrent)
        return account

    async def _call(self, call: Call) -> None:
        try:
            call.result = await self._send(call)
        except BaseException:
            logger.exception("hand-off: message %s failed unexpectedly", call.sms.reference)
            started = call.started_at is not None
            call.result = SendResult(
                call.sms.reference, Outcome.RETRY, error_message="timeout" if started else NOT_STARTED
            )
            if not started:
                call.chunk.begin()  # never leave the chunk waiting for it
        self.done.put(call)

    async def _send(self, call: Call) -> SendResult:
        wait = call.slot - time.time()
        if wait > 0:
            await asyncio.sleep(wait)  # never before its rate-limit slot
        account = self._account(call.sms)
        attempt = 0
        not_started = SendResult(call.sms.reference, Outcome.RETRY, error_message=NOT_STARTED)
        while True:
            waiter = account.want()
            call.chunk.waiting.add(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.cancelled() and not call.chunk.is_open:
                    return not_started  # its chunk closed while it waited for a permit
                raise
            finally:
                call.chunk.waiting.discard(waiter)
            await self._spaced(call)
            if not call.chunk.begin():
                account.release(None)
                return not_started
            call.started_at = time.time()
            try:
                result = await self.backend.send_async(call.sms)
            except Exception:
                logger.exception("hand-off: message %s: the call failed; its outcome is unknown", call.sms.reference)
                result = SendResult(call.sms.reference, Outcome.RETRY, error_message="timeout")
            account.release(result)
            if not result.rate_limited:
                return result
            # Refused for too many requests: it never reached the provider. Again, later, while
            # the chunk is open; else its job goes back to the queue (campaigns.dispatch).
            if attempt >= self.retries or not call.chunk.again():
                logger.warning(
                    "hand-off: message %s refused %d times for too many requests (account %s); back to the queue",
                    call.sms.reference,
                    attempt + 1,
                    call.sms.account.account_sid,
                )
                return result
            attempt += 1
            call.started_at = None
            await asyncio.sleep(backoff(attempt, result.retry_after))

    async def _spaced(self, call: Call) -> None:
        """Keep this process's calls of one rate-limit key at least its pace apart.

        Slots are spaced globally (messaging.ratelimit), but calls that waited for permits
        together would otherwise all start the moment the permits come back.
        """
        if not call.paces:
            return
        now = time.monotonic()
        start = max(now, *(self.next_start.get(key, 0.0) for key, _ in call.paces))
        for key, pace in call.paces:  # reserved at once (one loop, one thread): one sleep each
            self.next_start[key] = start + pace
        if start > now:
            await asyncio.sleep(start - now)


def backoff(attempt: int, retry_after: float | None) -> float:
    """A jittered pause before trying a 429 again: Retry-After when short, else 50 ms doubling."""
    if retry_after is not None and retry_after <= 5:
        return retry_after + random.uniform(0, 0.1)  # noqa: S311 - jitter, not a secret
    return random.uniform(0.5, 1.5) * min(0.05 * 2 ** (attempt - 1), 2.0)  # noqa: S311


_engines: dict[Any, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(backend: SmsBackend) -> Engine:
    """This process's engine for backends like this one (a forked worker makes its own)."""
    key = backend.engine_key()
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None or engine.pid != os.getpid() or not engine.thread.is_alive():
            engine = _engines[key] = Engine(backend)
        return engine


def engines_close() -> None:
    """Stop every engine of this process (tests, and a worker shutting down)."""
    with _engines_lock:
        engines = [e for e in _engines.values() if e.pid == os.getpid()]
        _engines.clear()
    for engine in engines:
        engine.close()
