"""Handing a person's reply to the provider (the worker's side of messaging.conversations).

One reply at a time, with the dispatcher's guarantees and its pieces: under the kill switch's
shared lock (tenants.killswitch: no hand-off starts after a pause commits; a paused business's
reply waits for it to resume), its number held against opt-outs for the provider call
(contacts.guard: a STOP that committed meanwhile stops it), at a rate-limit slot of the
tenant's and the sender's (messaging.ratelimit), through the same backend. The answer is
written as the dispatcher writes one: ``queued`` with the provider id (status callbacks that
came first are applied, messaging.events), or the reservation given back when nothing went.

``reply_hand_off`` runs in the task enqueued on commit, and in the sweep (``replies_sweep``)
that hands over replies whose task the broker lost and scheduled replies whose instant came.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from contacts import guard
from messaging import events, selectors
from messaging import services as messaging_services
from messaging.backends.base import OutboundSMS, Outcome, SendResult, SmsBackend, get_backend
from messaging.models import PENDING_REPLY, Message, MessageKind, MessageStatus
from messaging.ratelimit import reserve_slots
from tenants import killswitch
from tenants.models import Tenant

logger = logging.getLogger(__name__)

#: A reply still ``sending`` this long after its instant lost its task: the sweep hands it over.
LOST_AFTER = timedelta(seconds=10)
#: Seconds ahead a rate-limit slot may be granted (a reply waits for it in the worker).
SLOT_HORIZON = 5.0


def reply_hand_off(*, message_id: int, backend: SmsBackend | None = None, now: datetime | None = None) -> str:
    """Hand one reply over if it is due and still ours; what happened, as a word for the logs."""
    backend = backend or get_backend()
    now = now or timezone.now()
    price = None
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("sending_number__account")
            .filter(pk=message_id, kind=MessageKind.CONVERSATION)
            .first()
        )
        if message is None:
            return "busy or gone"  # another worker holds it, or it is not a reply
        if message.status not in (MessageStatus.SENDING, MessageStatus.SCHEDULED):
            return "done"
        if message.scheduled_for is not None and message.scheduled_for > now:
            return "not due"
        killswitch.hold_for_hand_off(message.tenant_id)
        if Tenant.objects.filter(pk=message.tenant_id, is_paused=True).exists():
            return "paused"
        message.status = MessageStatus.SENDING
        sms = OutboundSMS(
            reference=str(message.reference),
            to=message.to_phone,
            sender=message.from_sender,
            body=message.body,
            account=message.sending_number.account.credentials,
            status_callback=selectors.status_callback_url(),
            validity_period=selectors.validity_period(),
            decided_at=message.created_at.timestamp(),
        )
        _wait_for_slot(message)
        with guard.numbers_held(message.tenant_id, [message.to_phone]) as blocked:
            result = None if blocked else backend.send([sms])[0]
        outcome = _record(message, result)
        if result is not None and result.outcome == Outcome.ACCEPTED:
            price = result.price_cents
    if price is not None:
        messaging_services.message_price_reconcile(message=message, price_cents=price)
    return outcome


def _wait_for_slot(message: Message) -> None:
    """The tenant's and the sender's rate limits, counted with the campaigns' messages."""
    sender = message.sending_number
    tenant_rate = Tenant.objects.values_list("messages_per_second", flat=True).get(pk=message.tenant_id)
    keys = (f"tenant:{message.tenant_id}", f"sender:{sender.id}")
    rates = {keys[0]: float(tenant_rate), keys[1]: float(sender.messages_per_second)}
    for _ in range(20):
        (slot,) = reserve_slots([keys], rates, now=time.time(), horizon=SLOT_HORIZON)
        wait = slot.at - time.time()
        if wait > 0:
            time.sleep(min(wait, SLOT_HORIZON))
        if slot.granted:
            return
    logger.warning("reply %s: no rate-limit slot after 20 tries; handed over anyway", message.reference)


def _record(message: Message, result: SendResult | None) -> str:
    """Write the provider's answer (None: the number opted out just before) onto the reply."""
    now = timezone.now()
    fields = ["status", "status_at"]
    message.status_at = now
    if result is not None and result.outcome == Outcome.ACCEPTED:
        message.status, message.provider_id, message.handed_off_at = MessageStatus.QUEUED, result.provider_id, now
        message.save(update_fields=[*fields, "provider_id", "handed_off_at"])
        events.events_apply_pending(sids=[result.provider_id])  # callbacks that beat us here
        return "sent"
    if result is not None and result.outcome == Outcome.RETRY and result.error_message == "timeout":
        # It may have reached the provider: never sent again automatically (a person decides).
        message.status, message.error_message = MessageStatus.UNKNOWN, "Timed out at hand-off."
        message.save(update_fields=[*fields, "error_message"])
        return "unknown"
    if result is not None and result.outcome == Outcome.RETRY and message.created_at > now - timedelta(hours=1):
        message.error_code, message.error_message = result.error_code[:10], result.error_message[:300]
        message.save(update_fields=["error_code", "error_message"])
        return "retry"  # never reached the provider: the sweep tries again
    message.status = MessageStatus.REJECTED
    if result is None:
        message.error_message = "Opted out just before hand-off; not sent."
    else:
        message.error_code, message.error_message = result.error_code[:10], result.error_message[:300]
    message.save(update_fields=[*fields, "error_code", "error_message"])
    tenant = Tenant.objects.get(pk=message.tenant_id)
    day, month = messaging_services.local_periods(tenant, message.created_at)
    messaging_services.reservation_release(tenant=tenant, messages=[message], day=day, month=month)
    if result is not None and result.error_code and message.contact_id:
        messaging_services.contact_consequence(
            contact=message.contact, error_code=result.error_code, source=f"message {message.reference}"
        )
    return "rejected"


def replies_due(*, now: datetime, limit: int = 200) -> list[int]:
    """Replies to hand over now: scheduled ones whose instant came, and ones whose task was lost."""
    return list(
        Message.objects.filter(PENDING_REPLY)
        .filter(scheduled_for__lte=now)
        .exclude(status=MessageStatus.SENDING, scheduled_for__gt=now - LOST_AFTER)
        .order_by("scheduled_for", "id")
        .values_list("id", flat=True)[:limit]
    )


def replies_sweep(*, backend: SmsBackend | None = None, now: datetime | None = None) -> int:
    """Hand over every due reply (beat, every few seconds); how many went."""
    backend = backend or get_backend()
    now = now or timezone.now()
    return sum(reply_hand_off(message_id=pk, backend=backend) == "sent" for pk in replies_due(now=now))
