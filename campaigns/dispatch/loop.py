"""The dispatcher's run (``dispatch``): round-robin over the runnable campaigns, a batch at a
time, until none has a job due or time is up; and the lifecycle sweep it runs every few seconds
(``campaigns_advance``: start scheduled campaigns, expire ended ones, complete finished ones)."""

from __future__ import annotations

import random
import time
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.completion import campaigns_complete_finished
from campaigns.dispatch.batch import process_batch
from campaigns.dispatch.flights import flight_for, take_seat
from campaigns.dispatch.stats import DispatchStats
from campaigns.models import Campaign, CampaignStatus, GateOutcome, JobStatus, SendJob
from messaging.backends.base import SmsBackend, get_backend
from messaging.models import Message

# Consecutive batches of one campaign before the next campaign's turn.
BATCHES_PER_TURN = 1
# Seconds of a pass over the running campaigns before looking again for campaigns launched since.
PASS_SECONDS = 2.0
# Seconds between lifecycle sweeps (start scheduled, expire ended, complete finished).
ADVANCE_EVERY = 2.0


def dispatch(
    *, backend: SmsBackend | None = None, max_seconds: float = 50.0, batch_size: int | None = None
) -> DispatchStats:
    """Work through due jobs of every running campaign until none is due or time is up."""
    backend = backend or get_backend()
    batch_size = batch_size or settings.DISPATCH_BATCH_SIZE
    stats = DispatchStats()
    flight = flight_for(backend)
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
            seat = take_seat(campaign_id) if flight is not None else None
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
    # Finished ones are completed, and announced to the event webhooks, by one UPDATE … RETURNING.
    campaigns_complete_finished(now=now)
