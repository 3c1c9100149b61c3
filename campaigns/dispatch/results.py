"""The provider's answers and what they mean for their jobs (``HandOffOutcome``), written
set-wise, one writer per outcome (``record_results``); whether a job is still ours to hand over
or record (``still_ours``); and giving back the reservation of a message that never went."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from django.utils import timezone

from campaigns.models import Campaign, Gate, GateOutcome, JobStatus, SendJob
from contacts.models import Contact
from messaging import events, handoff
from messaging import services as messaging_services
from messaging.backends.base import Outcome, SendResult
from messaging.models import Message, MessageStatus
from smscrm import metrics
from smscrm.bulk import update_by_id

# Provider attempts a job gets: a temporary refusal after the last one fails it.
MAX_ATTEMPTS = 5


def still_ours(items: list) -> list:
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


# What a job gets when its number went on the do-not-contact list after the batch was decided.
OPTED_OUT_MEANWHILE = "opted_out_meanwhile"


def opted_out_result(item) -> SendResult:
    return SendResult(
        reference=item.outbound.reference,
        outcome=Outcome.REJECTED,
        status=OPTED_OUT_MEANWHILE,
        error_message="Opted out just before hand-off; not sent.",
    )


def release(*, campaign: Campaign, items: list, decision) -> None:
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


def record_results(*, campaign: Campaign, items: list, results: list[SendResult], decision, stats) -> int:
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
    metrics.handoff_answers([kind for *_, kind in accepted + opted_out + unknown + retries + failed], results)
    _write_accepted(accepted, decision=decision, stats=stats, now=now)
    _write_opted_out([item for item, _, _ in opted_out], stats=stats, now=now)
    _write_settled_messages(released + [item for item, _, _ in unknown])
    _write_unknown([item for item, _, _ in unknown], stats=stats)
    _write_retries(retries, stats=stats, now=now)
    _write_failed([(item, result) for item, result, _ in failed], stats=stats, now=now)
    if released:
        release(campaign=campaign, items=released, decision=decision)
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
