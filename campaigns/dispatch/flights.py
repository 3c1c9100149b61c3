"""Concurrent hand-off (messaging.handoff): this process's provider calls in flight
(``_Flight``), started as their rate-limit slots come and recorded as their answers arrive,
and the seats that keep a few workers, not all, at one campaign."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from campaigns.dispatch.results import opted_out_result, record_results, still_ours
from campaigns.dispatch.stats import DispatchStats, tally
from campaigns.models import Campaign
from contacts import guard
from messaging import handoff
from messaging import services as messaging_services
from messaging.backends.base import SmsBackend

logger = logging.getLogger("campaigns.dispatch")  # the dispatcher's log, as before it was a package


# Concurrent hand-off (messaging.handoff): calls are submitted this long before their slot (the
# engine waits out the rest), and a chunk whose calls cannot all start within START_WITHIN
# seconds (no permits: the account is saturated by others, or the permit store is down) closes
# anyway; the calls that had not started are not sent and their jobs go back to the queue.
SUBMIT_LEAD = 0.05
START_WITHIN = 10.0
# How often a chunk waiting for its calls to start proves its database session is still there.
PROVE_EVERY = 0.2


class _Flight:
    """This process's provider calls in flight, their numbers held, their answers to record.

    A chunk closes once all its calls have started and records the answers that are in by then;
    an answer that comes later (a slow provider, a timeout) is recorded by this same worker as
    it arrives, between batches, in a transaction that re-checks the job still carries that
    message. A worker that dies first leaves the job ``sending`` for the reconciler.
    """

    def __init__(self, engine: handoff.Engine):
        self.engine = engine
        self.in_flight = 0
        self.arrived: list[handoff.Call] = []
        self.proved_at = 0.0

    def submit(self, calls: list[handoff.Call]) -> None:
        self.in_flight += len(calls)
        self.engine.submit(calls)

    def collect(self, timeout: float = 0) -> None:
        """Take in the answers that have come (waiting up to ``timeout`` for one); let their numbers go."""
        calls = self.engine.finished(timeout) if self.in_flight else []
        if not calls:
            if timeout and not self.in_flight:
                time.sleep(timeout)
            return
        self.in_flight -= len(calls)
        self.arrived.extend(calls)  # first: whatever fails below, no answer is lost
        by_tenant: dict[int, list[str]] = {}
        for call in calls:
            by_tenant.setdefault(call.tag[0].message.tenant_id, []).append(call.sms.to)
        for tenant_id, phones in by_tenant.items():
            guard.let_go(tenant_id, phones)

    def take(self, chunk: handoff.Chunk) -> list[handoff.Call]:
        mine = [call for call in self.arrived if call.chunk is chunk]
        self.arrived = [call for call in self.arrived if call.chunk is not chunk]
        return mine

    def record_arrived(self) -> DispatchStats:
        """Record the answers that came after their chunk closed, a transaction per batch."""
        self.collect()
        total = DispatchStats()
        batches: dict[int, list[handoff.Call]] = {}
        for call in self.arrived:
            batches.setdefault(id(call.tag[2]), []).append(call)
        for calls in batches.values():
            campaign, decision = calls[0].tag[1], calls[0].tag[2]
            stats = DispatchStats()
            late = SimpleNamespace(day=decision.day, month=decision.month, price_reports=[])
            with transaction.atomic():
                kept = {id(item) for item in still_ours([call.tag[0] for call in calls])}
                ours = [call for call in calls if id(call.tag[0]) in kept]
                stats.sent += record_results(
                    campaign=campaign,
                    items=[call.tag[0] for call in ours],
                    results=[call.result for call in ours],
                    decision=late,
                    stats=stats,
                )
            self.arrived = [call for call in self.arrived if call.tag[2] is not decision]  # recorded: done
            for message, cents in late.price_reports:
                messaging_services.message_price_reconcile(message=message, price_cents=cents)
            tally(campaign.id, stats)
            total.merge(stats)
        return total

    def drain(self, *, timeout: float) -> DispatchStats:
        """Wait for every call in flight (up to ``timeout``), then record what came."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            self.collect(timeout=min(0.1, max(deadline - time.monotonic(), 0.001)))
        return self.record_arrived()


_flights: dict[int, _Flight] = {}


def take_seat(campaign_id: int) -> str | bool:
    """One of DISPATCH_WORKERS_PER_CAMPAIGN seats at a campaign (its cache key), or False.

    With many calls in flight a few workers keep a campaign's provider account busy; more would
    only queue for its permits, and a worker waiting there is not starting the campaign a
    business has just launched. A seat lapses on its own if its worker dies.
    """
    for n in range(settings.DISPATCH_WORKERS_PER_CAMPAIGN):
        key = f"dispatch:seat:{campaign_id}:{n}"
        if cache.add(key, 1, timeout=int(START_WITHIN) + 30):
            return key
    return False


def flight_for(backend: SmsBackend) -> _Flight | None:
    """The in-flight registry of this process's engine for a concurrent backend; None otherwise."""
    if not backend.concurrent:
        return None
    engine = handoff.engine_for(backend)
    flight = _flights.get(id(engine))
    if flight is None or flight.engine is not engine:
        flight = _flights[id(engine)] = _Flight(engine)
    return flight


def send_concurrent(items: list, flight: _Flight, *, campaign: Campaign, decision) -> list[tuple]:
    """Start each message's call when its slot comes, many in flight; the answers in by the close.

    Each group of numbers due is held against opt-outs and the list read again for them, as in
    ``chunks._send_paced``; each number is let go when its own call has answered, the tenant's key
    (which bulk additions to the list wait for) once every call of the chunk has started.
    Returns (item, result) for the messages answered or kept back by then; the rest are in
    ``flight`` until they answer.
    """
    chunk = handoff.Chunk()
    answered = []
    tenant_id = campaign.tenant_id
    position = holds = 0
    unstarted = None
    try:
        while position < len(items):
            now = time.time()
            if items[position].slot > now + SUBMIT_LEAD:
                flight.collect(timeout=min(items[position].slot - SUBMIT_LEAD - now, 0.05))
                continue
            end = position
            while end < len(items) and items[end].slot <= now + SUBMIT_LEAD:
                end += 1
            group, position = items[position:end], end
            blocked = guard.hold_numbers(tenant_id, [item.outbound.to for item in group])
            holds += 1
            kept_back = [item for item in group if item.outbound.to in blocked]
            guard.let_go(tenant_id, [item.outbound.to for item in kept_back])
            for item in kept_back:
                answered.append((item, opted_out_result(item)))
            calls = [
                handoff.Call(
                    item.outbound, item.slot, chunk, tag=(item, campaign, decision), paces=_paces(campaign, item)
                )
                for item in group
                if item.outbound.to not in blocked
            ]
            chunk.expect(len(calls))
            flight.submit(calls)
            flight.collect()
        unstarted = chunk.close(timeout=START_WITHIN, meanwhile=lambda: _chunk_alive(flight))
    finally:
        if unstarted is None:  # failed half-way: what has not started never will
            chunk.close(timeout=0)
        guard.let_go_tenant(tenant_id, holds)  # every call has started: bulk opt-outs may go ahead
    if unstarted:
        logger.warning(
            "hand-off: %d calls of campaign %s found no room in %.0f s", unstarted, campaign.id, START_WITHIN
        )
    flight.collect()
    answered += [(call.tag[0], call.result) for call in flight.take(chunk)]
    return answered


def _chunk_alive(flight: _Flight) -> None:
    """While a chunk's calls start: take in answers, and prove the chunk's session is still there.

    The kill switch's lock and the numbers' holds live in this database session; if it has gone
    (killed, timed out idle) a pause or an opt-out may already have committed, so the error
    closes the chunk (handoff.Chunk.close) before another call can start. A failed unlock of a
    number whose call answered says the same at once; otherwise it is found within PROVE_EVERY.
    """
    flight.collect()
    now = time.monotonic()
    if now - flight.proved_at >= PROVE_EVERY:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        flight.proved_at = now


def _paces(campaign: Campaign, item) -> tuple[tuple[str, float], ...]:
    """The message's rate-limit keys (as in campaigns.gates) and their seconds between messages."""
    return (
        (f"tenant:{campaign.tenant_id}", 1.0 / campaign.tenant.messages_per_second),
        (f"sender:{item.sender.id}", 1.0 / item.sender.messages_per_second),
    )
