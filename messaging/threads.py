"""Keeping conversations' summaries in step with their messages (see Conversation's lifecycle).

Called inside the writers' own transactions: the inbound webhook (messaging.inbound), the
dispatcher's batch (campaigns.dispatch.batch, set-wise: a fixed number of statements per
batch) and the reply service (messaging.conversations). Each change is one UPDATE with
database-side arithmetic, so concurrent texts to one thread never lose a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest

from contacts.models import Contact
from contacts.phones import normalize_phone
from messaging.conversation_models import Conversation, Direction
from smscrm.bulk import update_by_id

PREVIEW = 160


def thread_phone(raw: str) -> str:
    """A thread's number as written anywhere (``0412 345 678``, ``+61412345678``): E.164 when it
    is a phone number, else the sender ID as given (how an alphanumeric texter is stored)."""
    return normalize_phone(raw or "").e164 or " ".join((raw or "").split())[:16]


def preview(body: str) -> str:
    """The list's one-line preview of a message."""
    text = " ".join((body or "").split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def thread_open(*, tenant_id: int, phone: str, contact: Contact | None, at: datetime) -> Conversation:
    """The number's thread, created if it has none; a new thread takes in the contact's earlier
    messages (campaign messages, automatic replies) so it starts with what they answer."""
    conversation = Conversation.objects.filter(tenant_id=tenant_id, phone_e164=phone).first()
    if conversation is not None:
        if conversation.contact_id is None and contact is not None:
            Conversation.objects.filter(pk=conversation.pk).update(contact=contact)
            conversation.contact = contact
        return conversation
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                tenant_id=tenant_id, phone_e164=phone, contact=contact, last_message_at=at
            )
    except IntegrityError:  # another text from the number made it meanwhile
        return Conversation.objects.get(tenant_id=tenant_id, phone_e164=phone)
    if contact is not None:
        from messaging.models import Message

        earlier = Message.objects.filter(contact=contact, conversation__isnull=True)
        earlier.update(conversation=conversation)
        latest = earlier.model.objects.filter(conversation=conversation).order_by("-created_at", "-id").first()
        if latest is not None:
            outbound = latest.kind != "inbound"
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=latest.created_at,
                last_outbound_at=latest.created_at if outbound else None,
                last_body=preview(latest.body),
                last_direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
                campaign_id=latest.campaign_id,
            )
    return conversation


def thread_note_inbound(
    *, conversation_id: int, at: datetime, body: str, campaign_id: int | None, awaits_answer: bool
) -> None:
    """Their text: newest activity, one more unread, and (unless a keyword was answered
    automatically) waiting for a person's answer. A closed thread opens again."""
    changes = {
        "last_message_at": Greatest(F("last_message_at"), Value(at)),
        "last_inbound_at": Value(at),
        "last_body": preview(body),
        "last_direction": Direction.INBOUND,
        "unread_count": F("unread_count") + 1,
        "closed_at": None,
    }
    if campaign_id is not None:
        changes["campaign_id"] = campaign_id
    if awaits_answer:
        changes["needs_reply"] = True
        changes["waiting_since"] = Coalesce(F("waiting_since"), Value(at))
    Conversation.objects.filter(pk=conversation_id).update(**changes)


def thread_note_outbound(*, conversation_id: int, at: datetime, body: str, answered: bool) -> None:
    """Our message: newest activity; a person's answer (``answered``) also clears what waited
    for one, and reading comes with answering."""
    changes = {
        "last_message_at": Greatest(F("last_message_at"), Value(at)),
        "last_outbound_at": Value(at),
        "last_body": preview(body),
        "last_direction": Direction.OUTBOUND,
    }
    if answered:
        changes.update(needs_reply=False, waiting_since=None, unread_count=0, notified_at=None)
    Conversation.objects.filter(pk=conversation_id).update(**changes)


def threads_attach_campaign_messages(*, tenant_id: int, messages: Sequence, at: datetime) -> int:
    """Campaign messages just written (the dispatcher's ``PendingMessage`` rows: ``id``,
    ``to_phone``, ``campaign_id``, ``body``) join their numbers' threads, where there are any.

    Three statements whatever the batch's size (one when no number has a thread): the threads'
    ids, the messages' conversation, the threads' summaries. Returns how many joined.
    """
    if not messages:
        return 0
    threads = dict(
        Conversation.objects.filter(tenant_id=tenant_id, phone_e164__in={m.to_phone for m in messages}).values_list(
            "phone_e164", "id"
        )
    )
    joining = [m for m in messages if m.to_phone in threads]
    if not joining:
        return 0
    from messaging.models import Message

    update_by_id(
        Message, [m.id for m in joining], {"conversation_id": ("bigint", [threads[m.to_phone] for m in joining])}
    )
    last = {threads[m.to_phone]: m for m in joining}  # one message per thread and batch
    ids = sorted(last)
    update_by_id(
        Conversation,
        ids,
        {
            "last_body": ("text", [preview(last[i].body) for i in ids]),
            "campaign_id": ("bigint", [last[i].campaign_id for i in ids]),
        },
        fixed={"last_message_at": at, "last_outbound_at": at, "last_direction": Direction.OUTBOUND},
    )
    return len(joining)


def unread_texts(conversation_id: int) -> Q:
    """Its inbound texts not yet read (the old inbox's ``read_at``, kept in step)."""
    return Q(conversation_id=conversation_id, kind="inbound", read_at__isnull=True)
