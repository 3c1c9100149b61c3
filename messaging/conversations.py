"""Writes of conversations: a person's reply, and the thread's working aids (issue 19).

``conversation_reply`` is the one way a person's answer is sent: the thread page, the API and
the tests call it. It applies, in one transaction under the thread's row lock, every rule a
reply must pass (each refusal a ``ValidationError`` with a stable ``code`` and a sentence
naming the cause), writes the Message and reserves its budget and warmup count, and hands it
to a worker once committed (messaging.replies). Refusals leave nothing behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import Contact, DoNotContact
from contacts.timezones import recipient_zones
from messaging import selectors
from messaging import services as messaging_services
from messaging.conversation_models import Conversation, SavedReply
from messaging.models import Message, MessageKind, MessageStatus, SenderKind, SendingNumber
from messaging.quiet_hours import next_allowed_at
from messaging.segments import SegmentInfo, segment_info
from messaging.threads import thread_note_outbound, thread_open, thread_phone, unread_texts
from tenants.models import Membership, Tenant
from tenants.money import format_aud
from tenants.services import audit_record

#: A reply within this long of their last text answers them: no marketing consent needed.
ANSWER_WINDOW = timedelta(hours=72)
#: A reply within this long of their last text goes at once, quiet hours or not.
QUIET_HOURS_WAIVER = timedelta(hours=2)
MAX_BODY = 1600


class ConversationAction:
    """Audit action names of conversations (tenants.services.audit_record)."""

    REPLY_SENT = "conversation.reply_sent"
    REPLY_SCHEDULED = "conversation.reply_scheduled"
    REPLY_CANCELLED = "conversation.reply_cancelled"
    ASSIGNED = "conversation.assigned"
    CLOSED = "conversation.closed"
    REOPENED = "conversation.reopened"
    SAVED_REPLY_SAVED = "conversation.saved_reply_saved"
    SAVED_REPLY_DELETED = "conversation.saved_reply_deleted"


def reply_key(token: str) -> str:
    """``Message.dedupe_key`` of the reply made with this idempotency token (any length)."""
    return "conv:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _refuse(message: str, code: str):
    raise ValidationError(message, code=code)


@dataclass(frozen=True)
class _Plan:
    """What a reply that may go will be: its sender, cost and instant."""

    sender: SendingNumber
    info: SegmentInfo
    price: int
    send_at: datetime

    @property
    def cost(self) -> int:
        return self.info.segments * self.price


def conversation_reply(
    *, tenant: Tenant, phone: str, body: str, actor, idempotency_token: str | None = None, now: datetime | None = None
) -> Message:
    """Send (or schedule) a person's reply to the thread of ``phone``; the Message.

    ``status`` is ``sending`` (a worker hands it over within a second or two) or ``scheduled``
    (quiet hours: it goes at ``scheduled_for``). With the same ``idempotency_token`` again, the
    first call's message is returned and nothing more is sent.
    """
    now = now or timezone.now()
    key = reply_key(idempotency_token) if idempotency_token else ""
    if key and (first := Message.objects.filter(tenant=tenant, dedupe_key=key).first()) is not None:
        return first
    text = (body or "").replace("\x00", "")
    if not text.strip():
        _refuse("Write a reply first.", "empty")
    if len(text) > MAX_BODY:
        _refuse(f"A reply has at most {MAX_BODY} characters; this one has {len(text)}.", "too_long")
    number = thread_phone(phone)
    try:
        with transaction.atomic():
            message = _reply(tenant=tenant, number=number, body=text, actor=actor, key=key, now=now)
    except IntegrityError:
        # The same token at the same moment (a double click): the other request's message stands.
        first = Message.objects.filter(tenant=tenant, dedupe_key=key).first() if key else None
        if first is None:
            raise
        return first
    return message


def _reply(*, tenant: Tenant, number: str, body: str, actor, key: str, now: datetime) -> Message:
    conversation = Conversation.objects.select_for_update().filter(tenant=tenant, phone_e164=number).first()
    if not number.startswith("+"):
        _refuse(f"{number} is an alphanumeric sender ID: it cannot receive replies.", "alpha_sender")
    if Tenant.objects.filter(pk=tenant.pk, is_paused=True).exists():
        _refuse("Sending is paused for this business (kill switch): no reply goes until it is resumed.", "paused")
    if DoNotContact.objects.filter(tenant=tenant, phone_e164=number).exists():
        _refuse(
            f"{number} is on the do-not-contact list (they texted STOP): only the automatic confirmation may go.",
            "do_not_contact",
        )
    contact = Contact.objects.filter(tenant=tenant, phone_e164=number).first()
    last_inbound = conversation.last_inbound_at if conversation is not None else None
    _check_consent(contact=contact, number=number, last_inbound=last_inbound, tenant=tenant, now=now)
    plan = _plan(tenant=tenant, number=number, contact=contact, body=body, last_inbound=last_inbound, now=now)
    _reserve(tenant=tenant, plan=plan, now=now)
    if conversation is None:
        conversation = thread_open(tenant_id=tenant.id, phone=number, contact=contact, at=now)
    scheduled = plan.send_at > now
    message = Message.objects.create(
        tenant=tenant,
        contact=contact,
        conversation=conversation,
        sending_number=plan.sender,
        kind=MessageKind.CONVERSATION,
        to_phone=number,
        from_sender=plan.sender.sender,
        body=body,
        encoding=plan.info.encoding,
        segments=plan.info.segments,
        cost_cents=plan.cost,
        status=MessageStatus.SCHEDULED if scheduled else MessageStatus.SENDING,
        scheduled_for=plan.send_at,
        dedupe_key=key,
    )
    thread_note_outbound(conversation_id=conversation.id, at=now, body=body, answered=True)
    Message.objects.filter(unread_texts(conversation.id)).update(read_at=now)
    audit_record(
        tenant=tenant,
        actor=actor,
        action=ConversationAction.REPLY_SCHEDULED if scheduled else ConversationAction.REPLY_SENT,
        target=number,
        data={"message": str(message.reference), "segments": plan.info.segments, "cost_cents": plan.cost}
        | ({"scheduled_for": plan.send_at.isoformat()} if scheduled else {}),
    )
    from messaging import tasks

    transaction.on_commit(lambda: tasks.reply_enqueue(message.id, eta=plan.send_at if scheduled else None))
    return message


def _check_consent(*, contact, number: str, last_inbound, tenant: Tenant, now: datetime) -> None:
    """Within 72 hours of their last text a reply answers them; after that it needs consent."""
    if last_inbound is not None and now - last_inbound <= ANSWER_WINDOW:
        return
    when = (
        f"last texted {timezone.localtime(last_inbound, tenant.zone):%d %b %Y %H:%M}, more than 72 hours ago"
        if last_inbound is not None
        else "has not texted this business"
    )
    if contact is None:
        _refuse(f"{number} {when}, and is not a contact with consent: a reply now would be marketing.", "no_consent")
    if contact.undeliverable:
        _refuse(f"{number} is undeliverable: {contact.undeliverable_reason}", "undeliverable")
    if not contact.has_consent:
        _refuse(f"{number} {when}, and has no current consent on file: a reply now would be marketing.", "no_consent")


def _plan(*, tenant: Tenant, number: str, contact, body: str, last_inbound, now: datetime) -> _Plan:
    sender = reply_sender(tenant=tenant, number=number, contact=contact)
    if sender is None:
        _refuse("No active sending number can send this reply.", "no_sender")
    country = selectors.country_of(number)
    day, _month = messaging_services.local_periods(tenant, now)
    price = selectors.prices_on(tenant=tenant, day=day).get((sender.account.provider, country))
    if price is None:
        _refuse(f"No price per segment set for {country or 'this country'}: the reply cannot be priced.", "no_price")
    if last_inbound is not None and now - last_inbound <= QUIET_HOURS_WAIVER:
        send_at = now
    else:
        zones = recipient_zones(
            timezone=contact.timezone if contact else "",
            state=contact.state if contact else "",
            postcode=contact.postcode if contact else "",
            phone_e164=number,
            fallback=tenant.timezone,
        )
        send_at = next_allowed_at(now, zones, start_hour=tenant.quiet_hours_end, end_hour=tenant.quiet_hours_start)
        if send_at is None:
            _refuse(f"No hour is inside the sending window in all of {', '.join(zones)}.", "quiet_hours")
    return _Plan(sender=sender, info=segment_info(body), price=price, send_at=send_at)


def reply_sender(*, tenant: Tenant, number: str, contact) -> SendingNumber | None:
    """The number they last wrote to; else the contact's sticky sender (of its latest campaign
    message); else the first usable phone number (a reply from a number can be answered)."""
    usable = selectors.senders_for_sending(tenant=tenant)
    by_sender = {sender.sender: sender for sender in usable}
    by_id = {sender.id: sender for sender in usable}
    wrote_to = (
        Message.objects.filter(tenant=tenant, kind=MessageKind.INBOUND, from_sender=number)
        .order_by("-created_at", "-id")
        .values_list("to_phone", flat=True)
        .first()
    )
    if wrote_to in by_sender:
        return by_sender[wrote_to]
    if contact is not None:
        sticky = (
            Message.objects.filter(contact=contact, kind=MessageKind.CAMPAIGN)
            .exclude(status=MessageStatus.REJECTED)
            .order_by("-created_at", "-id")
            .values_list("sending_number_id", flat=True)
            .first()
        )
        if sticky in by_id:
            return by_id[sticky]
    numbers = [sender for sender in usable if sender.kind == SenderKind.NUMBER]
    return (numbers or usable or [None])[0]


def _reserve(*, tenant: Tenant, plan: _Plan, now: datetime) -> None:
    """Count the reply against the day's and month's caps (refused with the figures when it
    would pass one) and its sender's warmup count, as a campaign message is."""
    day, month = messaging_services.local_periods(tenant, now)
    spent_day, spent_month = messaging_services.spend_lock(tenant=tenant, day=day, month=month)
    for spent, cap, period in (
        (spent_day, tenant.daily_budget_cents, "today's"),
        (spent_month, tenant.monthly_budget_cents, "this month's"),
    ):
        if spent + plan.cost > cap:
            left = max(cap - spent, 0)
            _refuse(
                f"This reply costs {format_aud(plan.cost)} ({plan.info.segments} segment(s)), more than the "
                f"{format_aud(left)} left of {period} budget of {format_aud(cap)}.",
                "over_budget",
            )
    messaging_services.spend_add(tenant=tenant, day=day, month=month, cents=plan.cost)
    messaging_services.sender_counts_read(numbers=[plan.sender], day=day)
    messaging_services.sender_count_add(counts={plan.sender.id: 1}, day=day)


def conversation_reply_cancel(*, message: Message, actor) -> Message:
    """Cancel a scheduled reply before its instant: nothing is sent, its reservation is given
    back, and the thread waits for an answer again if this was the only one."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().select_related("tenant").get(pk=message.pk)
        if locked.kind != MessageKind.CONVERSATION or locked.status != MessageStatus.SCHEDULED:
            _refuse("Only a scheduled reply can be cancelled; this one has gone or was cancelled.", "not_scheduled")
        locked.status = MessageStatus.CANCELLED
        locked.save(update_fields=["status"])
        day, month = messaging_services.local_periods(locked.tenant, locked.created_at)
        messaging_services.reservation_release(tenant=locked.tenant, messages=[locked], day=day, month=month)
        conversation = Conversation.objects.select_for_update().filter(pk=locked.conversation_id).first()
        if conversation is not None and conversation.last_inbound_at is not None:
            answered = (
                Message.objects.filter(conversation=conversation, kind=MessageKind.CONVERSATION)
                .filter(created_at__gte=conversation.last_inbound_at)
                .exclude(status__in=(MessageStatus.CANCELLED, MessageStatus.REJECTED))
                .exists()
            )
            if not answered:
                Conversation.objects.filter(pk=conversation.pk).update(
                    needs_reply=True, waiting_since=conversation.last_inbound_at
                )
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=ConversationAction.REPLY_CANCELLED,
            target=locked.to_phone,
            data={"message": str(locked.reference)},
        )
    return locked


# --- the thread's working aids -----------------------------------------------------------------


def conversation_mark_read(*, conversation: Conversation, actor) -> None:
    """Nothing unread in the thread (its texts read in the old inbox too). Not audited: a working aid."""
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
        Message.objects.filter(unread_texts(conversation.pk)).update(read_at=timezone.now())
    conversation.unread_count = 0


def conversation_mark_unread(*, conversation: Conversation, actor) -> None:
    """Show the thread as unread again (one unread, at least): someone should look at it."""
    Conversation.objects.filter(pk=conversation.pk, unread_count=0).update(unread_count=1)
    conversation.unread_count = max(conversation.unread_count, 1)


def conversation_assign(*, conversation: Conversation, assignee, actor) -> Conversation:
    """Give the thread to a member of its tenant (None: to nobody), audited."""
    if assignee is not None and not Membership.objects.filter(tenant_id=conversation.tenant_id, user=assignee).exists():
        _refuse("Assign the conversation to a member of this business.", "not_member")
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(assigned_to=assignee)
        conversation.assigned_to = assignee
        audit_record(
            tenant=conversation.tenant,
            actor=actor,
            action=ConversationAction.ASSIGNED,
            target=conversation.phone_e164,
            data={"assignee": getattr(assignee, "email", None)},
        )
    return conversation


def conversation_close(*, conversation: Conversation, actor) -> Conversation:
    """Close the thread (a new text from them opens it again), audited."""
    return _set_closed(conversation, closed_at=timezone.now(), actor=actor, action=ConversationAction.CLOSED)


def conversation_reopen(*, conversation: Conversation, actor) -> Conversation:
    return _set_closed(conversation, closed_at=None, actor=actor, action=ConversationAction.REOPENED)


def _set_closed(conversation: Conversation, *, closed_at, actor, action: str) -> Conversation:
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(closed_at=closed_at)
        conversation.closed_at = closed_at
        audit_record(tenant=conversation.tenant, actor=actor, action=action, target=conversation.phone_e164)
    return conversation


def saved_reply_save(*, saved_reply: SavedReply, actor) -> SavedReply:
    """Create or change a tenant's saved reply (its name unique in the tenant), audited."""
    if saved_reply.pk is None and saved_reply.created_by_id is None:
        saved_reply.created_by = actor if getattr(actor, "is_authenticated", False) else None
    saved_reply.full_clean()
    with transaction.atomic():
        saved_reply.save()
        audit_record(
            tenant=saved_reply.tenant,
            actor=actor,
            action=ConversationAction.SAVED_REPLY_SAVED,
            target=saved_reply.name,
            data={"body": saved_reply.body[:200]},
        )
    return saved_reply


def saved_reply_delete(*, saved_reply: SavedReply, actor) -> None:
    with transaction.atomic():
        audit_record(
            tenant=saved_reply.tenant,
            actor=actor,
            action=ConversationAction.SAVED_REPLY_DELETED,
            target=saved_reply.name,
        )
        saved_reply.delete()
