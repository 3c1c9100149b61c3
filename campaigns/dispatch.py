"""The dispatcher: claims due send jobs, runs the seven gates, hands messages to the provider.

One batch is one campaign's due jobs, claimed with ``FOR UPDATE SKIP LOCKED`` so that any
number of workers share the work without waiting on each other. A batch goes in two steps:

1. **Decide** (one transaction): lock the jobs and their contacts (so two campaigns cannot
   both slip a message to one contact past suppression). Evaluate the gates for the whole
   batch with a handful of set-based queries (campaigns.gates), reading the tenant's spend for
   its local day and month and its senders' warmup counts *without* locks, so workers of one
   tenant decide side by side. Jobs that pass become ``sending`` with a Message row; the last
   statements before commit reserve their cost and their senders' counts with conditional
   updates that succeed only while every cap still holds. If another worker used the room in
   the meantime, the reservation fails, the transaction rolls back, and the batch is decided
   again with the spend and warmup rows locked from the start (``process_batch``). Once the
   transaction commits, a job is never handed over again without a person deciding.
2. **Hand off**, in chunks, each chunk its own transaction that first holds the kill switch's
   lock shared (tenants.killswitch) and reads whether tenant and campaign still run. A pause
   takes that lock exclusively, so it waits for the chunks under way and every later chunk
   sees it: no provider call starts after a pause commits. Held jobs go back to pending with
   their reservation released. Each message waits for its rate-limit slot, then goes to the
   provider. With a backend that keeps many calls in flight (Twilio, messaging.handoff) a chunk
   closes once all its calls have started; the answers in by then are written in the chunk and
   later ones by the same worker as they arrive (``_Flight``). Otherwise, one call at a time,
   the results are written in the same chunk.

A worker that dies between the two steps or mid-chunk leaves jobs ``sending``; the
reconciler (``reconcile_sending``) asks the provider about them by our reference where it
can, and marks the rest ``unknown`` for a person. Nothing is ever sent twice automatically;
the database refuses a second live message per campaign and contact besides.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns import gates
from campaigns.gates.verdicts import BatchDecision
from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, GateTally, JobStatus, SendJob
from contacts import guard
from contacts.models import Contact
from links import services as links_services
from messaging import events, handoff
from messaging import services as messaging_services
from messaging.backends.base import OutboundSMS, Outcome, SendResult, SmsBackend, get_backend
from messaging.models import Message, MessageKind, MessageStatus
from smscrm.bulk import insert_returning_ids, update_by_id
from tenants import killswitch
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Jobs per hand-off transaction: a pause waits for at most one chunk in flight. The rate
# limiter grants about a second's worth of slots per batch, so at real rates a chunk is small.
HANDOFF_CHUNK = 500
MAX_ATTEMPTS = 5
# Consecutive batches of one campaign before the next campaign's turn.
BATCHES_PER_TURN = 1
# Seconds of a pass over the running campaigns before looking again for campaigns launched since.
PASS_SECONDS = 2.0
# Seconds between lifecycle sweeps (start scheduled, expire ended, complete finished).
ADVANCE_EVERY = 2.0


@dataclass
class DispatchStats:
    batches: int = 0
    claimed: int = 0
    sent: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.outcomes[key] = self.outcomes.get(key, 0) + n

    def merge(self, other: DispatchStats) -> None:
        self.batches += other.batches
        self.claimed += other.claimed
        self.sent += other.sent
        for key, n in other.outcomes.items():
            self.count(key, n)


def dispatch(
    *, backend: SmsBackend | None = None, max_seconds: float = 50.0, batch_size: int | None = None
) -> DispatchStats:
    """Work through due jobs of every running campaign until none is due or time is up."""
    backend = backend or get_backend()
    batch_size = batch_size or settings.DISPATCH_BATCH_SIZE
    stats = DispatchStats()
    flight = _flight(backend)
    if flight is not None:
        stats.merge(flight.record_arrived())  # answers a failed earlier run left unrecorded
    deadline = time.monotonic() + max_seconds
    advanced_at = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - advanced_at >= ADVANCE_EVERY:
            campaigns_advance()
            advanced_at = time.monotonic()
        worked = seated_out = False
        # Round-robin over campaigns, a batch each, so one big campaign cannot starve others.
        # Campaigns that have sent nothing yet go first. The rest start at a random one each
        # pass: workers spread over campaigns (and over provider accounts, each with its own cap
        # on requests in flight) instead of crowding the first.
        runnable = runnable_campaigns()
        fresh = [campaign_id for campaign_id, started in runnable if not started]
        going = [campaign_id for campaign_id, started in runnable if started]
        start = random.randrange(len(going)) if going else 0  # noqa: S311 - spreading, not secrecy
        pass_started, first = time.monotonic(), set(fresh)
        for campaign_id in fresh + going[start:] + going[:start]:
            if campaign_id not in first and time.monotonic() - pass_started >= PASS_SECONDS:
                break  # look again: campaigns launched meanwhile go first
            seat = _seat(campaign_id) if flight is not None else None
            if seat is False:
                seated_out = True  # enough workers on it already: on to the next campaign
                continue
            try:
                for _ in range(BATCHES_PER_TURN):
                    batch = process_batch(campaign_id=campaign_id, backend=backend, batch_size=batch_size)
                    stats.merge(batch)
                    if flight is not None:
                        stats.merge(flight.record_arrived())
                    worked |= bool(batch.claimed)
                    if batch.claimed < batch_size or time.monotonic() >= deadline:
                        break
            finally:
                if seat:
                    cache.delete(seat)
            if time.monotonic() >= deadline:
                break
        if seated_out and not worked:
            # Every campaign with work has its workers: wait a moment, then look again.
            flight.collect(timeout=0.1)
            stats.merge(flight.record_arrived())
            continue
        if not worked:
            break
    if flight is not None:
        # Every call this run started is answered (or timed out) and recorded before it ends.
        stats.merge(flight.drain(timeout=settings.TWILIO_TIMEOUT_SECONDS + 5))
    return stats


def runnable_campaign_ids() -> list[int]:
    """Running campaigns of unpaused tenants that have a job due now, those that have sent
    nothing yet first (a business that just launched hears its first message at once, next to
    another's million), each group in launch order."""
    return [campaign_id for campaign_id, _ in runnable_campaigns()]


def runnable_campaigns(now: datetime | None = None) -> list[tuple[int, bool]]:
    """(id, has sent anything) of each runnable campaign, in ``runnable_campaign_ids`` order."""
    now = now or timezone.now()
    due = SendJob.objects.filter(campaign=OuterRef("pk"), status=JobStatus.PENDING, next_attempt_at__lte=now)
    started = Message.objects.filter(campaign=OuterRef("pk"))
    return list(
        Campaign.objects.filter(status=CampaignStatus.RUNNING, tenant__is_paused=False)
        .filter(Exists(due))
        .annotate(started=Exists(started))
        .order_by("started", "launched_at", "id")
        .values_list("id", "started")
    )


def campaigns_advance(now: datetime | None = None) -> None:
    """Start scheduled campaigns whose time came, expire ended ones, complete finished ones."""
    now = now or timezone.now()
    Campaign.objects.filter(status=CampaignStatus.SCHEDULED, jobs_created_at__isnull=False, starts_at__lte=now).update(
        status=CampaignStatus.RUNNING
    )
    for campaign in Campaign.objects.filter(
        status__in=(CampaignStatus.RUNNING, CampaignStatus.PAUSED), ends_at__lte=now
    ):
        SendJob.objects.filter(campaign=campaign, status=JobStatus.PENDING).update(
            status=JobStatus.EXPIRED,
            outcome=GateOutcome.SKIP,
            gate="",
            reason="The campaign ended first.",
            decided_at=now,
        )
    # A job whose outcome is unknown keeps its campaign open until a person settles it.
    open_jobs = SendJob.objects.filter(
        campaign=OuterRef("pk"), status__in=(JobStatus.PENDING, JobStatus.SENDING, JobStatus.UNKNOWN)
    )
    Campaign.objects.filter(status=CampaignStatus.RUNNING, jobs_created_at__isnull=False).exclude(
        Exists(open_jobs)
    ).update(status=CampaignStatus.COMPLETED, completed_at=now)


def process_batch(*, campaign_id: int, backend: SmsBackend, batch_size: int) -> DispatchStats:
    """Claim, decide and hand off one batch of a campaign's due jobs.

    The decision first runs optimistically (spend and warmup counters read without locks,
    reserved by conditional updates just before commit) so workers overlap; if another worker
    took the room meanwhile, it runs again with those rows locked from the start.
    """
    try:
        return _process_batch(campaign_id=campaign_id, backend=backend, batch_size=batch_size, locked=False)
    except messaging_services.ReservationConflict:
        return _process_batch(campaign_id=campaign_id, backend=backend, batch_size=batch_size, locked=True)


def _process_batch(*, campaign_id: int, backend: SmsBackend, batch_size: int, locked: bool) -> DispatchStats:
    stats = DispatchStats()
    now = timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_related("tenant", "template").get(pk=campaign_id)
        tenant = campaign.tenant
        if tenant.is_paused or campaign.status != CampaignStatus.RUNNING:
            return stats  # gate 1 at claim time: nothing is claimed while held
        jobs = list(
            SendJob.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign_id, status=JobStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        if not jobs:
            return stats
        stats.batches, stats.claimed = 1, len(jobs)
        contacts = {
            contact.id: contact
            # NO KEY: rows that merely point at a contact (an inbound text) are not held up.
            for contact in Contact.objects.select_for_update(no_key=True)
            .filter(id__in=[job.contact_id for job in jobs])
            .order_by("id")
        }
        decision = gates.evaluate(campaign=campaign, jobs=jobs, contacts=contacts, now=now, locked=locked)
        to_send = _record_decisions(campaign=campaign, decision=decision, now=now, stats=stats)
    if to_send:
        stats.sent += hand_off(campaign=campaign, outgoing=to_send, backend=backend, decision=decision, stats=stats)
    _tally(campaign_id, stats)
    return stats


# The gates' verdicts and the provider's answers the report's funnel counts (every decision,
# so a job deferred twice counts twice); "sent" and bookkeeping keys are counted elsewhere.
TALLIED = {f"{gate}:{outcome}" for gate in Gate.values for outcome in GateOutcome.values} | {
    "provider:retry",
    "provider:failed",
    "unknown",
}


def _tally(campaign_id: int, stats: DispatchStats) -> None:
    """Add this batch's decisions to the campaign's GateTally rows in one statement."""
    counts = sorted((key, n) for key, n in stats.outcomes.items() if n and key in TALLIED)
    if not counts:
        return
    table, key = connection.ops.quote_name(GateTally._meta.db_table), connection.ops.quote_name("key")
    values = ", ".join(["(%s, %s, %s)"] * len(counts))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, {key}, n) VALUES {values} "  # noqa: S608 - our names, placeholders
            f"ON CONFLICT (campaign_id, {key}) DO UPDATE SET n = {table}.n + EXCLUDED.n",
            [value for key, n in counts for value in (campaign_id, key, n)],
        )


def _record_decisions(*, campaign: Campaign, decision: BatchDecision, now: datetime, stats) -> list:
    """Write the gates' verdicts: messages for jobs that go, new states for those that don't."""
    for verdict in decision.stopped:
        stats.count(f"{verdict.gate}:{verdict.outcome}")
    by_outcome: dict[tuple, list[int]] = {}
    deferred = []
    for verdict in decision.stopped:
        if verdict.outcome == GateOutcome.DEFER:
            verdict.job.status = JobStatus.PENDING
            verdict.job.gate, verdict.job.outcome, verdict.job.reason = verdict.gate, verdict.outcome, verdict.reason
            verdict.job.next_attempt_at, verdict.job.decided_at = verdict.next_attempt_at, now
            deferred.append(verdict.job)
        else:
            status = JobStatus.SKIPPED if verdict.outcome == GateOutcome.SKIP else JobStatus.PENDING
            by_outcome.setdefault((status, verdict.gate, verdict.outcome, verdict.reason), []).append(verdict.job.id)
    for (status, gate, outcome, reason), ids in by_outcome.items():
        SendJob.objects.filter(id__in=ids).update(
            status=status, gate=gate, outcome=outcome, reason=reason, decided_at=now
        )
    if deferred:
        update_by_id(
            SendJob,
            [job.id for job in deferred],
            {
                "gate": ("text", [job.gate for job in deferred]),
                "reason": ("text", [job.reason for job in deferred]),
                "next_attempt_at": ("timestamptz", [job.next_attempt_at for job in deferred]),
            },
            fixed={"status": JobStatus.PENDING, "outcome": GateOutcome.DEFER, "decided_at": now},
        )
    going = decision.going
    if not going:
        return []
    try:
        with transaction.atomic():
            _insert_messages(going, now=now)
    except IntegrityError:
        going = _drop_duplicates(going, now=now, stats=stats)
        _insert_messages(going, now=now)
    links_services.links_record(
        tenant=campaign.tenant,
        rows=[
            (link, item.message.id, campaign.id, item.message.contact_id)
            for item in going
            for link in item.message.links
        ],
        now=now,
    )
    for item in going:
        item.job.attempts += 1
    update_by_id(
        SendJob,
        [item.job.id for item in going],
        {
            "message_id": ("bigint", [item.message.id for item in going]),
            "attempts": ("integer", [item.job.attempts for item in going]),
        },
        fixed={"status": JobStatus.SENDING, "gate": "", "outcome": GateOutcome.SEND, "reason": "", "decided_at": now},
    )
    reserved = sum(item.message.cost_cents for item in going)
    counts: dict[int, int] = {}
    for item in going:
        counts[item.sender.id] = counts.get(item.sender.id, 0) + 1
    if decision.locked:
        messaging_services.spend_add(tenant=campaign.tenant, day=decision.day, month=decision.month, cents=reserved)
        messaging_services.sender_count_add(counts=counts, day=decision.day)
    else:
        # Last statements before commit, so these rows are locked only briefly.
        messaging_services.spend_reserve(tenant=campaign.tenant, day=decision.day, month=decision.month, cents=reserved)
        messaging_services.sender_counts_reserve(counts=counts, caps=decision.sender_caps, day=decision.day)
    return going


def _insert_messages(going: list, *, now: datetime) -> None:
    """Write the pending messages' Message rows (status sending) and note their ids on them
    (``campaigns.gates.verdicts.PendingMessage``)."""
    pending = [item.message for item in going]

    def column(kind: str, attribute: str):
        return (kind, [getattr(message, attribute) for message in pending])

    ids = insert_returning_ids(
        Message,
        {
            "reference": column("uuid", "reference"),
            "tenant_id": column("bigint", "tenant_id"),
            "contact_id": column("bigint", "contact_id"),
            "campaign_id": column("bigint", "campaign_id"),
            "sending_number_id": column("bigint", "sending_number_id"),
            "kind": ("text", [MessageKind.CAMPAIGN] * len(pending)),
            "to_phone": column("text", "to_phone"),
            "from_sender": column("text", "from_sender"),
            "body": column("text", "body"),
            "encoding": column("text", "encoding"),
            "segments": column("integer", "segments"),
            "status": column("text", "status"),
            "provider_id": column("text", "provider_id"),
            "dedupe_key": column("text", "dedupe_key"),
            "error_code": column("text", "error_code"),
            "error_message": column("text", "error_message"),
            "cost_cents": column("integer", "cost_cents"),
            "created_at": ("timestamptz", [now] * len(pending)),
        },
        key="reference",
    )
    for message in pending:
        message.id = ids[message.reference]


def _drop_duplicates(going: list, *, now: datetime, stats) -> list:
    """A live message already exists for some (campaign, contact): never send those again."""
    keys = [item.message.dedupe_key for item in going]
    tenant_id = going[0].message.tenant_id
    taken = set(
        Message.objects.filter(tenant_id=tenant_id, dedupe_key__in=keys)
        .exclude(status=MessageStatus.REJECTED)
        .values_list("dedupe_key", flat=True)
    )
    duplicates = [item.job.id for item in going if item.message.dedupe_key in taken]
    SendJob.objects.filter(id__in=duplicates).update(
        status=JobStatus.SKIPPED,
        gate=Gate.PROVIDER,
        outcome=GateOutcome.SKIP,
        reason="A message for this campaign and contact already exists (duplicate prevented).",
        decided_at=now,
    )
    stats.count("duplicate_prevented", len(duplicates))
    return [item for item in going if item.message.dedupe_key not in taken]


def _share_lock_running(campaign: Campaign) -> bool:
    """Hold off a pause for this chunk (tenants.killswitch); are tenant and campaign still running?"""
    killswitch.hold_for_hand_off(campaign.tenant_id)
    with connection.cursor() as cursor:
        # Table names come from model metadata, never from input.
        tenants, campaigns = Tenant._meta.db_table, Campaign._meta.db_table
        cursor.execute(f"SELECT is_paused FROM {tenants} WHERE id = %s", [campaign.tenant_id])  # noqa: S608
        (paused,) = cursor.fetchone()
        cursor.execute(f"SELECT status FROM {campaigns} WHERE id = %s", [campaign.id])  # noqa: S608
        (status,) = cursor.fetchone()
    return not paused and status == CampaignStatus.RUNNING


def _still_ours(items: list) -> list:
    """The items whose jobs are still ``sending`` the very message decided, locked for update.

    A worker that stalled past DISPATCH_STALE_SENDING_SECONDS may find its job requeued by the
    reconciler and decided again by another worker (sending once more, with another message):
    then it is not ours to hand over, nor to record an answer for.
    """
    held = dict(
        SendJob.objects.select_for_update()
        .filter(id__in=[item.job.id for item in items], status=JobStatus.SENDING)
        .values_list("id", "message_id")
    )
    return [item for item in items if held.get(item.job.id) == item.message.id]


def hand_off(*, campaign: Campaign, outgoing: list, backend: SmsBackend, decision, stats) -> int:
    sent = 0
    outgoing = sorted(outgoing, key=lambda item: item.slot)
    for start in range(0, len(outgoing), HANDOFF_CHUNK):
        chunk = outgoing[start : start + HANDOFF_CHUNK]
        with transaction.atomic():
            chunk = _still_ours(chunk)  # a worker that stalled past the reconciler hands over nothing
            if not _share_lock_running(campaign):
                _hold(campaign=campaign, items=chunk + outgoing[start + HANDOFF_CHUNK :], decision=decision)
                stats.count(f"{Gate.KILL_SWITCH}:{GateOutcome.HOLD}", len(outgoing) - start)
                return sent
            if backend.concurrent:
                answered = _send_concurrent(chunk, _flight(backend), campaign=campaign, decision=decision)
                items, results = [item for item, _ in answered], [result for _, result in answered]
            else:
                items, results = chunk, _send_paced(chunk, backend)
            sent += _record_results(campaign=campaign, items=items, results=results, decision=decision, stats=stats)
    for message, cents in decision.price_reports:
        messaging_services.message_price_reconcile(message=message, price_cents=cents)
    return sent


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
                kept = {id(item) for item in _still_ours([call.tag[0] for call in calls])}
                ours = [call for call in calls if id(call.tag[0]) in kept]
                stats.sent += _record_results(
                    campaign=campaign,
                    items=[call.tag[0] for call in ours],
                    results=[call.result for call in ours],
                    decision=late,
                    stats=stats,
                )
            self.arrived = [call for call in self.arrived if call.tag[2] is not decision]  # recorded: done
            for message, cents in late.price_reports:
                messaging_services.message_price_reconcile(message=message, price_cents=cents)
            _tally(campaign.id, stats)
            total.merge(stats)
        return total

    def drain(self, *, timeout: float) -> DispatchStats:
        """Wait for every call in flight (up to ``timeout``), then record what came."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            self.collect(timeout=min(0.1, max(deadline - time.monotonic(), 0.001)))
        return self.record_arrived()


_flights: dict[int, _Flight] = {}


def _seat(campaign_id: int) -> str | bool:
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


def _flight(backend: SmsBackend) -> _Flight | None:
    """The in-flight registry of this process's engine for a concurrent backend; None otherwise."""
    if not backend.concurrent:
        return None
    engine = handoff.engine_for(backend)
    flight = _flights.get(id(engine))
    if flight is None or flight.engine is not engine:
        flight = _flights[id(engine)] = _Flight(engine)
    return flight


def _send_concurrent(items: list, flight: _Flight, *, campaign: Campaign, decision) -> list[tuple]:
    """Start each message's call when its slot comes, many in flight; the answers in by the close.

    Each group of numbers due is held against opt-outs and the list read again for them, as in
    ``_send_paced``; each number is let go when its own call has answered, the tenant's key
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
                answered.append((item, _opted_out(item)))
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


def _opted_out(item) -> SendResult:
    return SendResult(
        reference=item.outbound.reference,
        outcome=Outcome.REJECTED,
        status=OPTED_OUT_MEANWHILE,
        error_message="Opted out just before hand-off; not sent.",
    )


# What a job gets when its number went on the do-not-contact list after the batch was decided.
OPTED_OUT_MEANWHILE = "opted_out_meanwhile"


def _send_paced(items: list, backend: SmsBackend) -> list[SendResult]:
    """Hand each message over once its rate-limit slot has come, in groups of those due.

    Each group's numbers are held against opt-outs for the provider call and the
    do-not-contact list is read again for them (contacts.guard): a number that opted out
    since the batch was decided is not handed over.
    """
    results: list[SendResult] = []
    position = 0
    while position < len(items):
        wait = items[position].slot - time.time()
        if wait > 0:
            time.sleep(wait)
        now = time.time()
        end = position
        while end < len(items) and items[end].slot <= now:
            end += 1
        end = max(end, position + 1)
        group = items[position:end]
        with guard.numbers_held(group[0].message.tenant_id, [item.outbound.to for item in group]) as blocked:
            going = [item for item in group if item.outbound.to not in blocked]
            sent = iter(backend.send([item.outbound for item in going]) if going else [])
            for item in group:
                results.append(_opted_out(item) if item.outbound.to in blocked else next(sent))
        position = end
    return results


def _hold(*, campaign: Campaign, items: list, decision) -> None:
    """The kill switch came down after these were reserved: give everything back, untouched."""
    if not items:
        return
    now = timezone.now()
    SendJob.objects.filter(id__in=[item.job.id for item in items], status=JobStatus.SENDING).update(
        status=JobStatus.PENDING,
        gate=Gate.KILL_SWITCH,
        outcome=GateOutcome.HOLD,
        reason="Paused before hand-off.",
        message=None,
        next_attempt_at=now,
        decided_at=now,
    )
    Message.objects.filter(id__in=[item.message.id for item in items], status=MessageStatus.SENDING).delete()
    _release(campaign=campaign, items=items, decision=decision)


def _release(*, campaign: Campaign, items: list, decision) -> None:
    messaging_services.reservation_release(
        tenant=campaign.tenant, messages=[item.message for item in items], day=decision.day, month=decision.month
    )


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after:
        return timedelta(seconds=min(retry_after, 3600))
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


class HandOffOutcome(StrEnum):
    """What a provider's answer means for its job (``_outcome``)."""

    ACCEPTED = "accepted"  # the provider took it: the job is sent
    OPTED_OUT = "opted_out"  # its number opted out just before hand-off: skipped, not sent
    UNKNOWN = "unknown"  # timed out: it may have reached the provider, so a person decides
    NOT_SENT = "not_sent"  # it never reached the provider (no room there, in time): again, not an attempt
    RETRY = "retry"  # a temporary refusal with attempts left: again after a backoff
    FAILED = "failed"  # refused for good, or out of attempts


# Outcomes whose message never went: its reservation is given back.
RELEASED = (HandOffOutcome.OPTED_OUT, HandOffOutcome.NOT_SENT, HandOffOutcome.RETRY, HandOffOutcome.FAILED)


def _outcome(result: SendResult, attempts: int) -> HandOffOutcome:
    """What ``result`` means for a job that has made ``attempts`` attempts (this one included)."""
    if result.status == OPTED_OUT_MEANWHILE:
        return HandOffOutcome.OPTED_OUT
    if result.outcome == Outcome.ACCEPTED:
        return HandOffOutcome.ACCEPTED
    if result.outcome == Outcome.RETRY and result.error_message == "timeout":
        # The request may have reached the provider: never guess, a person decides.
        return HandOffOutcome.UNKNOWN
    if result.error_message == handoff.NOT_STARTED or result.rate_limited:
        return HandOffOutcome.NOT_SENT
    if result.outcome == Outcome.RETRY and attempts < MAX_ATTEMPTS:
        return HandOffOutcome.RETRY
    return HandOffOutcome.FAILED


def _mark_message(message, kind: HandOffOutcome, result: SendResult, now: datetime) -> None:
    """Set the in-memory message to what ``kind`` makes of it (written by the writers below)."""
    if kind == HandOffOutcome.ACCEPTED:
        message.status, message.provider_id, message.handed_off_at = MessageStatus.QUEUED, result.provider_id, now
    elif kind == HandOffOutcome.OPTED_OUT:
        message.status, message.error_message = MessageStatus.REJECTED, result.error_message
    elif kind == HandOffOutcome.UNKNOWN:
        message.status, message.error_message = MessageStatus.UNKNOWN, "Timed out at hand-off."
    else:
        message.status = MessageStatus.REJECTED
        message.error_code, message.error_message = result.error_code[:10], result.error_message[:300]


def _record_results(*, campaign: Campaign, items: list, results: list[SendResult], decision, stats) -> int:
    """Write what the provider's answers mean, set-wise: one writer per outcome (``_outcome``)."""
    now = timezone.now()
    accepted, opted_out, unknown, retries, failed, released = [], [], [], [], [], []
    groups = {
        HandOffOutcome.ACCEPTED: accepted,
        HandOffOutcome.OPTED_OUT: opted_out,
        HandOffOutcome.UNKNOWN: unknown,
        HandOffOutcome.NOT_SENT: retries,  # in one statement with the retries, in their order
        HandOffOutcome.RETRY: retries,
        HandOffOutcome.FAILED: failed,
    }
    for item, result in zip(items, results, strict=True):
        kind = _outcome(result, item.job.attempts)
        _mark_message(item.message, kind, result, now)
        groups[kind].append((item, result, kind))
        if kind in RELEASED:
            released.append(item)
    _write_accepted(accepted, decision=decision, stats=stats, now=now)
    _write_opted_out([item for item, _, _ in opted_out], stats=stats, now=now)
    _write_settled_messages(released + [item for item, _, _ in unknown])
    _write_unknown([item for item, _, _ in unknown], stats=stats)
    _write_retries(retries, stats=stats, now=now)
    _write_failed([(item, result) for item, result, _ in failed], stats=stats, now=now)
    if released:
        _release(campaign=campaign, items=released, decision=decision)
    return len(accepted)


def _write_accepted(accepted: list[tuple], *, decision, stats, now: datetime) -> None:
    """Messages the provider took: queued, their jobs sent, their contacts just sent to."""
    for item, result, _ in accepted:
        if result.price_cents is not None:
            decision.price_reports.append((item.message, result.price_cents))
    if not accepted:
        return
    items = [item for item, _, _ in accepted]
    update_by_id(
        Message,
        [item.message.id for item in items],
        {"provider_id": ("text", [item.message.provider_id for item in items])},
        fixed={"status": MessageStatus.QUEUED, "handed_off_at": now},
    )
    update_by_id(SendJob, [item.job.id for item in items], {}, fixed={"status": JobStatus.SENT})
    update_by_id(Contact, sorted({item.job.contact_id for item in items}), {}, fixed={"last_sent_at": now})
    stats.count("sent", len(items))
    # Status callbacks that beat us here waited for these provider ids.
    events.events_apply_pending(sids=[item.message.provider_id for item in items])


def _write_opted_out(items: list, *, stats, now: datetime) -> None:
    """Jobs whose number opted out just before hand-off: skipped at the do-not-contact gate."""
    SendJob.objects.filter(id__in=[item.job.id for item in items]).update(
        status=JobStatus.SKIPPED,
        gate=Gate.DNC,
        outcome=GateOutcome.SKIP,
        reason="Opted out just before hand-off.",
        decided_at=now,
    )
    stats.count(f"{Gate.DNC}:{GateOutcome.SKIP}", len(items))


def _write_settled_messages(items: list) -> None:
    """The messages that did not go (or may not have): their status and error, in one statement."""
    if not items:
        return
    update_by_id(
        Message,
        [item.message.id for item in items],
        {
            "status": ("text", [item.message.status for item in items]),
            "error_code": ("text", [item.message.error_code for item in items]),
            "error_message": ("text", [item.message.error_message for item in items]),
        },
    )


def _write_unknown(items: list, *, stats) -> None:
    """Jobs that timed out at hand-off: ``unknown`` until a person decides."""
    SendJob.objects.filter(id__in=[item.job.id for item in items]).update(
        status=JobStatus.UNKNOWN, gate=Gate.PROVIDER, reason="Timed out at hand-off; check before resending."
    )
    stats.count("unknown", len(items))


def _write_retries(retries: list[tuple], *, stats, now: datetime) -> None:
    """Jobs the provider asked to retry, or that never reached it: back to pending after a wait.
    Set-wise even here: a 429 storm can send a whole batch back at once."""
    waits = []
    for item, result, kind in retries:
        if kind == HandOffOutcome.NOT_SENT:
            item.job.attempts -= 1  # it never reached the provider: not an attempt
            waits.append(timedelta(seconds=min(result.retry_after or 5.0, 60.0)))
        else:
            waits.append(_backoff(item.job.attempts, result.retry_after))
    update_by_id(
        SendJob,
        [item.job.id for item, _, _ in retries],
        {
            "reason": (
                "text",
                [
                    f"Provider asked to retry ({item.message.error_code or 'temporary error'})."
                    for item, _, _ in retries
                ],
            ),
            "next_attempt_at": ("timestamptz", [now + wait for wait in waits]),
            "attempts": ("integer", [item.job.attempts for item, _, _ in retries]),
        },
        fixed={
            "status": JobStatus.PENDING,
            "message_id": None,
            "gate": Gate.PROVIDER,
            "outcome": GateOutcome.DEFER,
            "decided_at": now,
        },
    )
    stats.count("provider:retry", len(retries))


def _write_failed(failed: list[tuple], *, stats, now: datetime) -> None:
    """Jobs the provider refused for good (or out of attempts): failed; a refusal with an error
    code may tell something about the contact's number (``contact_consequence``)."""
    update_by_id(
        SendJob,
        [item.job.id for item, _ in failed],
        {"reason": ("text", [f"Provider refused: {r.error_code} {r.error_message}"[:200] for _, r in failed])},
        fixed={"status": JobStatus.FAILED, "gate": Gate.PROVIDER, "outcome": GateOutcome.SKIP, "decided_at": now},
    )
    refused = [(item, result) for item, result in failed if result.error_code]
    if refused:
        contacts = Contact.objects.select_related("tenant").in_bulk([item.job.contact_id for item, _ in refused])
        for item, result in refused:
            messaging_services.contact_consequence(
                contact=contacts[item.job.contact_id],
                error_code=result.error_code,
                source=f"message {item.message.reference}",
            )
    stats.count("provider:failed", len(failed))


def reconcile_sending(*, backend: SmsBackend | None = None, older_than: timedelta | None = None) -> dict[str, int]:
    """Jobs left ``sending`` by a worker that died: ask the provider, never resend blindly.

    Found at the provider → sent. Provably never received (a provider that can look our
    reference up says no) → back to pending with the reservation released. Otherwise →
    ``unknown`` for a person to decide (resend or mark sent).
    """
    backend = backend or get_backend()
    older_than = older_than if older_than is not None else timedelta(seconds=settings.DISPATCH_STALE_SENDING_SECONDS)
    cutoff = timezone.now() - older_than
    counts = {"found": 0, "requeued": 0, "unknown": 0}
    with transaction.atomic():
        jobs = list(
            SendJob.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=JobStatus.SENDING, decided_at__lt=cutoff)
            .select_related("message", "message__sending_number__account", "tenant")
            .order_by("id")[:1000]
        )
        now = timezone.now()
        for job in jobs:
            message = job.message
            answer = None
            if message is not None and backend.can_lookup:
                answer = backend.lookup(
                    OutboundSMS(
                        reference=str(message.reference),
                        to=message.to_phone,
                        sender=message.from_sender,
                        body=message.body,
                        account=message.sending_number.account.credentials,
                        decided_at=message.created_at.timestamp(),
                    )
                )
            if answer is not None and answer.found:
                Message.objects.filter(pk=message.pk).update(
                    status=MessageStatus.QUEUED, provider_id=answer.provider_id, handed_off_at=message.created_at
                )
                SendJob.objects.filter(pk=job.pk).update(status=JobStatus.SENT)
                Contact.objects.filter(pk=job.contact_id).update(last_sent_at=message.created_at)
                counts["found"] += 1
            elif answer is not None and message is not None and answer.found is False:
                day, month = messaging_services.local_periods(job.tenant, message.created_at)
                messaging_services.reservation_release(tenant=job.tenant, messages=[message], day=day, month=month)
                SendJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.PENDING,
                    message=None,
                    gate=Gate.PROVIDER,
                    outcome=GateOutcome.DEFER,
                    reason="A worker stopped before hand-off; the provider confirmed it never received it.",
                    next_attempt_at=now,
                    decided_at=now,
                )
                Message.objects.filter(pk=message.pk).update(
                    status=MessageStatus.REJECTED, error_message="Never reached the provider (worker stopped)."
                )
                counts["requeued"] += 1
            else:
                if message is not None:
                    Message.objects.filter(pk=message.pk).update(status=MessageStatus.UNKNOWN)
                SendJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.UNKNOWN,
                    gate=Gate.PROVIDER,
                    reason="A worker stopped mid hand-off and the provider cannot tell; decide before resending.",
                    decided_at=now,
                )
                counts["unknown"] += 1
    return counts
