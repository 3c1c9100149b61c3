"""Reads of conversations: the list with its filters and keyset pages, one thread, the menu's count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet

from contacts.models import DoNotContact
from contacts.phones import normalize_phone
from contacts.selectors import contacts_search
from messaging.conversation_models import Conversation, SavedReply
from messaging.models import Message
from messaging.threads import thread_phone
from tenants.models import Tenant

PAGE = 50


@dataclass(frozen=True)
class ConversationFilters:
    """What the list is narrowed to; every field optional."""

    unread: bool = False
    needs_reply: bool = False
    opted_out: bool = False
    assigned_to: int | None = None  # a user id (the page's "assigned to me")
    campaign_id: int | None = None
    search: str = ""  # a name, or a number in any format (or a part of one)
    closed: bool | None = None  # None: open and closed alike


@dataclass
class ConversationPage:
    items: list[Conversation]
    after: str | None = None  # the cursor of the next page, None on the last


@dataclass
class Thread:
    """One conversation as its page shows it: every message both ways, oldest first."""

    conversation: Conversation
    messages: list[Message] = field(default_factory=list)
    on_dnc: bool = False


def _opted_out():
    return Exists(DoNotContact.objects.filter(tenant_id=OuterRef("tenant_id"), phone_e164=OuterRef("phone_e164")))


def conversations_queryset(*, tenant: Tenant, filters: ConversationFilters | None = None) -> QuerySet[Conversation]:
    """The tenant's threads as filtered, newest activity first, each with ``opted_out``."""
    filters = filters or ConversationFilters()
    threads = (
        Conversation.objects.filter(tenant=tenant)
        .annotate(opted_out=_opted_out())
        .select_related("contact", "campaign", "assigned_to")
    )
    if filters.unread:
        threads = threads.filter(unread_count__gt=0)
    if filters.needs_reply:
        threads = threads.filter(needs_reply=True)
    if filters.opted_out:
        threads = threads.filter(opted_out=True)
    if filters.assigned_to is not None:
        threads = threads.filter(assigned_to_id=filters.assigned_to)
    if filters.campaign_id is not None:
        threads = threads.filter(campaign_id=filters.campaign_id)
    if filters.closed is not None:
        threads = threads.filter(closed_at__isnull=not filters.closed)
    if filters.search.strip():
        threads = threads.filter(_search(tenant, filters.search))
    return threads.order_by("-last_message_at", "-id")


def _search(tenant: Tenant, text: str) -> Q:
    """A whole number in any format matches its thread; some digits match numbers holding them
    (a leading 0 read as the country code's place); anything else matches the contacts the
    contacts page finds for it (the start of a name or e-mail, accents and case ignored, read
    from their search indexes), so the two searches never disagree."""
    text = text.strip()[:100]
    e164 = normalize_phone(text).e164
    if e164:
        return Q(phone_e164=e164)
    digits = re.sub(r"[\s().-]", "", text)
    if digits.lstrip("+").isdigit() and len(digits.lstrip("+")) >= 3:
        return Q(phone_e164__contains=digits.lstrip("+").removeprefix("0"))
    return Q(contact__in=contacts_search(tenant=tenant, term=text).values("id"))


def encode_cursor(conversation: Conversation) -> str:
    return f"{conversation.last_message_at.isoformat()}_{conversation.id}"


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        at, _, pk = cursor.rpartition("_")
        moment = datetime.fromisoformat(at)
        if moment.utcoffset() is None:
            raise ValueError
        return moment, int(pk)
    except ValueError:
        raise ValidationError("This page cursor is not valid.", code="bad_cursor") from None


def conversations_for(
    *, tenant: Tenant, filters: ConversationFilters | None = None, after: str | None = None, limit: int = PAGE
) -> ConversationPage:
    """One keyset page of the list (``after``: the previous page's cursor). Each page is one
    indexed range read however deep it is: no OFFSET."""
    threads = conversations_queryset(tenant=tenant, filters=filters)
    if after:
        at, pk = _decode_cursor(after)
        # The redundant bound makes the walk start at the cursor (an index condition); the OR
        # alone is a filter over every row before it, so deep pages grew slower (bench/conversations).
        threads = threads.filter(last_message_at__lte=at).filter(
            Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk)
        )
    items = list(threads[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    return ConversationPage(items=items, after=encode_cursor(items[-1]) if more else None)


def conversation_for(*, tenant: Tenant, phone: str) -> Conversation | None:
    """The tenant's thread of ``phone`` in any format (None: none, or another tenant's)."""
    return (
        Conversation.objects.filter(tenant=tenant, phone_e164=thread_phone(phone))
        .annotate(opted_out=_opted_out())
        .select_related("contact", "campaign", "assigned_to")
        .first()
    )


def conversation_thread(*, tenant: Tenant, phone: str) -> Thread | None:
    """The thread of ``phone``: every message both ways in order (campaign messages, their texts,
    automatic answers, replies; scheduled and cancelled ones too), in two queries whatever its
    length. None when the tenant has no thread for that number."""
    conversation = conversation_for(tenant=tenant, phone=phone)
    if conversation is None:
        return None
    messages = list(
        Message.objects.filter(conversation=conversation).select_related("campaign").order_by("created_at", "id")
    )
    return Thread(conversation=conversation, messages=messages, on_dnc=conversation.opted_out)


def unread_conversation_count(*, tenant: Tenant) -> int:
    """Threads with something unread (the menu's count)."""
    return Conversation.objects.filter(tenant=tenant, unread_count__gt=0).count()


def saved_replies_for(*, tenant: Tenant) -> QuerySet[SavedReply]:
    return SavedReply.objects.filter(tenant=tenant).order_by("name", "id")


@dataclass(frozen=True)
class AnswerStats:
    """How the tenant answered texts over a period (the dashboard's "Conversations" line)."""

    received: int  # their texts in conversations
    threads: int  # threads that received them
    answered: int  # of those threads, the ones a person answered afterwards
    median_minutes: float | None  # median time from their first text to a person's first answer


#: Threads looked at for the median (the newest); a busier week is a sample of its latest.
ANSWER_SAMPLE = 5000


def conversation_answer_stats(*, tenant: Tenant, since: datetime) -> AnswerStats:
    """Texts received since ``since``, how many threads got an answer and the median time to
    the first answer: two indexed reads, the median taken in Python over a bounded set (the
    same on PostgreSQL and SQLite)."""
    from statistics import median

    from messaging.models import MessageKind, MessageStatus

    inbound = Message.objects.filter(
        tenant=tenant, kind=MessageKind.INBOUND, conversation__isnull=False, created_at__gte=since
    )
    first_text: dict[int, datetime] = {}
    received = 0
    for conversation_id, at in inbound.order_by("-created_at").values_list("conversation_id", "created_at")[
        :ANSWER_SAMPLE
    ]:
        received += 1
        first_text[conversation_id] = at  # newest first: the earliest wins
    answers = (
        Message.objects.filter(
            tenant=tenant, kind=MessageKind.CONVERSATION, conversation_id__in=list(first_text), created_at__gte=since
        )
        .exclude(status__in=(MessageStatus.CANCELLED, MessageStatus.REJECTED))
        .order_by("created_at")
        .values_list("conversation_id", "created_at")
    )
    waits: dict[int, float] = {}
    for conversation_id, at in answers:
        if conversation_id not in waits and at >= first_text[conversation_id]:
            waits[conversation_id] = (at - first_text[conversation_id]).total_seconds() / 60
    total = inbound.count() if received == ANSWER_SAMPLE else received
    return AnswerStats(
        received=total,
        threads=len(first_text),
        answered=len(waits),
        median_minutes=median(waits.values()) if waits else None,
    )
