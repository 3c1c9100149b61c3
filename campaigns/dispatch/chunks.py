"""The hand-off, in chunks: each chunk its own transaction that holds the kill switch's lock
shared and reads whether tenant and campaign still run (held jobs go back to pending, their
reservation released); then its messages go to the provider, one call at a time when each
rate-limit slot comes (``_send_paced``) or many in flight (campaigns.dispatch.flights)."""

from __future__ import annotations

import time

from django.db import connection, transaction
from django.utils import timezone

from campaigns.dispatch.flights import flight_for, send_concurrent
from campaigns.dispatch.results import opted_out_result, record_results, release, still_ours
from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from contacts import guard
from messaging import services as messaging_services
from messaging.backends.base import SendResult, SmsBackend
from messaging.models import Message, MessageStatus
from tenants import killswitch
from tenants.models import Tenant

# Jobs per hand-off transaction: a pause waits for at most one chunk in flight. The rate
# limiter grants about a second's worth of slots per batch, so at real rates a chunk is small.
HANDOFF_CHUNK = 500


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


def hand_off(*, campaign: Campaign, outgoing: list, backend: SmsBackend, decision, stats) -> int:
    sent = 0
    outgoing = sorted(outgoing, key=lambda item: item.slot)
    for start in range(0, len(outgoing), HANDOFF_CHUNK):
        chunk = outgoing[start : start + HANDOFF_CHUNK]
        with transaction.atomic():
            chunk = still_ours(chunk)  # a worker that stalled past the reconciler hands over nothing
            if not _share_lock_running(campaign):
                _hold(campaign=campaign, items=chunk + outgoing[start + HANDOFF_CHUNK :], decision=decision)
                stats.count(f"{Gate.KILL_SWITCH}:{GateOutcome.HOLD}", len(outgoing) - start)
                return sent
            if backend.concurrent:
                answered = send_concurrent(chunk, flight_for(backend), campaign=campaign, decision=decision)
                items, results = [item for item, _ in answered], [result for _, result in answered]
            else:
                items, results = chunk, _send_paced(chunk, backend)
            sent += record_results(campaign=campaign, items=items, results=results, decision=decision, stats=stats)
    for message, cents in decision.price_reports:
        messaging_services.message_price_reconcile(message=message, price_cents=cents)
    return sent


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
                results.append(opted_out_result(item) if item.outbound.to in blocked else next(sent))
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
    release(campaign=campaign, items=items, decision=decision)
