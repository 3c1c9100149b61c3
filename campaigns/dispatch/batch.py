"""One batch of a campaign's due jobs: claim them, decide them (campaigns.gates) and write the
decisions in one transaction (verdicts, Message rows, spend and warmup reservations), then hand
the ones that go to the provider (campaigns.dispatch.chunks)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import gates
from campaigns.dispatch.chunks import hand_off
from campaigns.dispatch.stats import DispatchStats, tally
from campaigns.gates.verdicts import BatchDecision
from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from contacts.models import Contact
from links import services as links_services
from messaging import services as messaging_services
from messaging.backends.base import SmsBackend
from messaging.models import Message, MessageKind, MessageStatus
from messaging.threads import threads_attach_campaign_messages
from smscrm import metrics
from smscrm.bulk import insert_returning_ids, update_by_id


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
        with metrics.timed("smscrm_handoff_seconds"):
            stats.sent += hand_off(campaign=campaign, outgoing=to_send, backend=backend, decision=decision, stats=stats)
    tally(campaign_id, stats)
    return stats


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
    # Numbers that already have a conversation: the message joins its thread (a fixed number
    # of statements per batch, messaging.threads).
    threads_attach_campaign_messages(tenant_id=campaign.tenant_id, messages=[item.message for item in going], at=now)
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
