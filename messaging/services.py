"""Writes of the messaging app: spend, warmup counts, message statuses, provider accounts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact, DncReason
from messaging.models import (
    Message,
    MessageKind,
    MessageStatus,
    Price,
    ProviderAccount,
    SenderDailyCount,
    SendingNumber,
    Spend,
    SpendPeriod,
)
from tenants.models import Tenant
from tenants.services import audit_record

logger = logging.getLogger(__name__)

# Error codes (docs/twilio.md): what each says beyond the one message.
PROVIDER_OPT_OUT_CODE = "21610"  # the recipient replied STOP to this sender: do-not-contact
HARD_BOUNCE_CODES = {"21211", "21614", "30005", "30006"}  # the number itself is bad: stop messaging it
TRANSIENT_CODES = {"30003", "30008"}  # kept as a failure of this message only; the contact stays
CONTENT_FILTERED_CODE = "30007"  # carriers filtered the wording: shown on the campaign


def local_periods(tenant: Tenant, at: datetime) -> tuple[date, date]:
    """The tenant's local day and the first day of its local month at ``at``."""
    local = timezone.localtime(at, tenant.zone)
    return local.date(), local.date().replace(day=1)


def spend_lock(*, tenant: Tenant, day: date, month: date) -> tuple[int, int]:
    """Lock the tenant's spend rows for ``day`` and ``month`` (creating them) and return their cents.

    Every reservation takes these row locks first, so concurrent workers queue here and can
    never commit more than the caps between them.
    """
    Spend.objects.bulk_create(
        [
            Spend(tenant=tenant, period=SpendPeriod.DAY, starts_on=day),
            Spend(tenant=tenant, period=SpendPeriod.MONTH, starts_on=month),
        ],
        ignore_conflicts=True,
    )
    rows = (
        Spend.objects.select_for_update()
        .filter(tenant=tenant, period__in=(SpendPeriod.DAY, SpendPeriod.MONTH), starts_on__in=(day, month))
        .order_by("period")
    )
    cents = {(row.period, row.starts_on): row.cents for row in rows}
    return cents[(SpendPeriod.DAY, day)], cents[(SpendPeriod.MONTH, month)]


def spend_read(*, tenant: Tenant, day: date, month: date) -> tuple[int, int]:
    """The day's and month's cents without locking (creating the rows); see ``spend_reserve``."""
    Spend.objects.bulk_create(
        [
            Spend(tenant=tenant, period=SpendPeriod.DAY, starts_on=day),
            Spend(tenant=tenant, period=SpendPeriod.MONTH, starts_on=month),
        ],
        ignore_conflicts=True,
    )
    rows = Spend.objects.filter(tenant=tenant, starts_on__in=(day, month)).values_list("period", "starts_on", "cents")
    cents = {(period, starts_on): value for period, starts_on, value in rows}
    return cents.get((SpendPeriod.DAY, day), 0), cents.get((SpendPeriod.MONTH, month), 0)


class ReservationConflict(Exception):
    """Another worker used the room a batch counted on: decide the batch again, under locks."""


def spend_reserve(*, tenant: Tenant, day: date, month: date, cents: int) -> None:
    """Add ``cents`` to the day and month only if both stay within the caps, else raise.

    Each UPDATE waits for a concurrent reservation of the same row and then re-checks its
    condition against the committed total, so together workers never pass a cap.
    """
    if cents <= 0:
        return
    for period, starts_on, cap in (
        (SpendPeriod.DAY, day, tenant.daily_budget_cents),
        (SpendPeriod.MONTH, month, tenant.monthly_budget_cents),
    ):
        updated = Spend.objects.filter(
            tenant=tenant, period=period, starts_on=starts_on, cents__lte=cap - cents
        ).update(cents=F("cents") + cents)
        if not updated:
            raise ReservationConflict(f"{period} budget")


def sender_counts_read(*, numbers: Iterable[SendingNumber], day: date) -> dict[int, int]:
    ids = sorted(number.id for number in numbers)
    SenderDailyCount.objects.bulk_create(
        [SenderDailyCount(sending_number_id=number_id, day=day) for number_id in ids], ignore_conflicts=True
    )
    return dict(
        SenderDailyCount.objects.filter(sending_number_id__in=ids, day=day).values_list("sending_number_id", "count")
    )


def sender_counts_reserve(*, counts: dict[int, int], caps: dict[int, int], day: date) -> None:
    """Add each sender's hand-offs only if it stays within its warmup cap, else raise."""
    for number_id in sorted(counts):
        delta = counts[number_id]
        if delta <= 0:
            continue
        updated = SenderDailyCount.objects.filter(
            sending_number_id=number_id, day=day, count__lte=caps[number_id] - delta
        ).update(count=F("count") + delta)
        if not updated:
            raise ReservationConflict(f"warmup of sender {number_id}")


def spend_add(*, tenant: Tenant, day: date, month: date, cents: int) -> None:
    """Add (or, negative, release) cents to the day and month; callers hold the locks or accept a wait."""
    if not cents:
        return
    Spend.objects.filter(tenant=tenant, period=SpendPeriod.DAY, starts_on=day).update(cents=F("cents") + cents)
    Spend.objects.filter(tenant=tenant, period=SpendPeriod.MONTH, starts_on=month).update(cents=F("cents") + cents)


def sender_counts_lock(*, numbers: Iterable[SendingNumber], day: date) -> dict[int, int]:
    """Lock the warmup counters of ``numbers`` for ``day`` and return {number id: handed over today}."""
    ids = sorted(number.id for number in numbers)
    SenderDailyCount.objects.bulk_create(
        [SenderDailyCount(sending_number_id=number_id, day=day) for number_id in ids], ignore_conflicts=True
    )
    rows = (
        SenderDailyCount.objects.select_for_update()
        .filter(sending_number_id__in=ids, day=day)
        .order_by("sending_number_id")
    )
    return {row.sending_number_id: row.count for row in rows}


def sender_count_add(*, counts: dict[int, int], day: date) -> None:
    for number_id, delta in counts.items():
        if delta:
            SenderDailyCount.objects.filter(sending_number_id=number_id, day=day).update(count=F("count") + delta)


def reservation_release(*, tenant: Tenant, messages: Iterable, day: date, month: date) -> None:
    """Give back what sending ``messages`` reserved: their cents from the tenant's spend for ``day``
    and ``month``, and one each from their sender's warmup count for ``day``.

    ``messages`` are Messages, or the dispatcher's in-memory copies of them (``PendingMessage``:
    ``cost_cents`` and ``sending_number_id`` are all that is read).

    ``day`` and ``month`` are the tenant's local periods in which the reservation was made (the
    decision's), not today's. Every path that un-sends a reserved message uses this one function,
    so budget and warmup can never be released apart.
    """
    messages = list(messages)
    spend_add(tenant=tenant, day=day, month=month, cents=-sum(message.cost_cents for message in messages))
    counts: dict[int, int] = {}
    for message in messages:
        counts[message.sending_number_id] = counts.get(message.sending_number_id, 0) - 1
    sender_count_add(counts=counts, day=day)


def message_price_reconcile(*, message: Message, price_cents: int) -> None:
    """The provider reported what a message cost: correct the reserved estimate in the spend rows."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().select_related("tenant").get(pk=message.pk)
        if locked.provider_price_cents == price_cents:
            return
        previous = locked.cost_cents if locked.provider_price_cents is None else locked.provider_price_cents
        # The reservation was made in the local day of the decision (the message's creation);
        # the hand-off may have come back after midnight, so never correct that day instead.
        day, month = local_periods(locked.tenant, locked.created_at)
        spend_add(tenant=locked.tenant, day=day, month=month, cents=price_cents - previous)
        Message.objects.filter(pk=locked.pk).update(provider_price_cents=price_cents)


def contact_consequence(*, contact: Contact, error_code: str, source: str) -> None:
    """What an error code means for the contact beyond one message (the table in docs/twilio.md)."""
    if error_code == PROVIDER_OPT_OUT_CODE:
        contact_services.dnc_add(
            tenant=contact.tenant,
            phone=contact.phone_e164,
            reason=DncReason.PROVIDER_OPT_OUT,
            actor=None,
            source=source,
        )
    elif error_code in HARD_BOUNCE_CODES:
        Contact.objects.filter(pk=contact.pk).update(
            undeliverable=True, undeliverable_reason=f"Provider error {error_code} ({source})"[:200]
        )


def inbox_mark(*, tenant: Tenant, actor, message_ids: Iterable[int], read: bool) -> int:
    """Mark inbound texts of ``tenant`` read (or unread again); returns how many changed.

    Only the tenant's inbound texts are touched: another tenant's id, or an outbound message's,
    changes nothing. One UPDATE, so atomic by itself. Not audited: read/unread is a working aid
    for staff, not a record; ``actor`` is taken like every service's, unused until it is.
    """
    texts = Message.objects.filter(tenant=tenant, kind=MessageKind.INBOUND, pk__in=list(message_ids))
    if read:
        return texts.filter(read_at__isnull=True).update(read_at=timezone.now())
    return texts.exclude(read_at__isnull=True).update(read_at=None)


class MessagingAction:
    PROVIDER_ACCOUNT_SAVED = "messaging.provider_account_saved"
    PRICE_SAVED = "messaging.price_saved"
    SENDING_NUMBER_CREATED = "messaging.sending_number_created"
    SENDING_NUMBER_SAVED = "messaging.sending_number_saved"


def _save_audited(obj, *, actor, action: str, data: dict):
    obj.full_clean()
    with transaction.atomic():
        obj.save()
        audit_record(tenant=obj.tenant, actor=actor, action=action, target=str(obj), data=data)
    return obj


def provider_account_save(*, account: ProviderAccount, actor) -> ProviderAccount:
    """Create or change a provider account. The audit trail names it, never its token."""
    data = {
        "provider": account.provider,
        "account_sid": account.account_sid,
        "active": account.is_active,
        "max_concurrent_requests": account.max_concurrent_requests,
    }
    return _save_audited(account, actor=actor, action=MessagingAction.PROVIDER_ACCOUNT_SAVED, data=data)


def sending_number_save(*, number: SendingNumber, actor) -> SendingNumber:
    """Change a sender's settings (active, ACMA status, pace, warmup curve), audited."""
    data = {
        "active": number.is_active,
        "sender_id_status": number.sender_id_status,
        "messages_per_second": number.messages_per_second,
        "warmup_curve": number.warmup_curve,
    }
    return _save_audited(number, actor=actor, action=MessagingAction.SENDING_NUMBER_SAVED, data=data)


def price_save(*, price: Price, actor) -> Price:
    """Set what a segment costs from a date on (integer cents)."""
    data = {"provider": price.provider, "country": price.country, "cents": price.cents_per_segment}
    return _save_audited(price, actor=actor, action=MessagingAction.PRICE_SAVED, data=data)


# --- sending numbers -------------------------------------------------------------------------


def sending_number_create(
    *,
    tenant: Tenant,
    actor,
    account: ProviderAccount,
    sender: str,
    kind: str,
    sender_id_status: str,
    messages_per_second: int,
    warmup_started_on: date,
    warmup_curve: Iterable[int],
) -> SendingNumber:
    """Add a number or alphanumeric sender ID to a tenant, audited.

    The rules (E.164 numbers, ACMA status for an alphanumeric ID, the warmup curve) are the
    model's (``SendingNumber.clean``), so the admin's change form keeps them too.
    """
    number = SendingNumber(
        tenant=tenant,
        account=account,
        sender=sender,
        kind=kind,
        sender_id_status=sender_id_status,
        messages_per_second=messages_per_second,
        warmup_started_on=warmup_started_on,
        warmup_curve=list(warmup_curve),
    )
    number.full_clean()
    with transaction.atomic():
        try:
            with transaction.atomic():
                number.save()
        except IntegrityError:  # added by someone else in the meantime
            raise ValidationError({"sender": f"{number.sender} is one of this business's senders already."}) from None
        audit_record(
            tenant=tenant,
            actor=actor,
            action=MessagingAction.SENDING_NUMBER_CREATED,
            target=number.sender,
            data={
                "kind": number.kind,
                "sender_id_status": number.sender_id_status,
                "account_sid": account.account_sid,
                "messages_per_second": number.messages_per_second,
                "warmup_curve": number.warmup_curve,
            },
        )
    return number


# Statuses after which a provider has settled what it charges.
PRICED_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED)


def message_prices_reconcile(*, backend, limit: int = 200, settle_after: timedelta = timedelta(minutes=2)) -> int:
    """Ask the provider what recent messages cost and correct the reserved estimates.

    Twilio prices a message some time after it is sent (the create call's price is empty), so a
    periodic task fetches it for messages handed over in the last week that have none yet.
    Returns how many were corrected.
    """
    now = timezone.now()
    pending = (
        Message.objects.filter(
            status__in=PRICED_STATUSES,
            provider_price_cents__isnull=True,
            handed_off_at__lt=now - settle_after,
            handed_off_at__gt=now - timedelta(days=7),
        )
        .exclude(provider_id="")
        .select_related("sending_number__account")
        .order_by("handed_off_at")[:limit]
    )
    corrected = 0
    for message in pending:
        if message.sending_number is None:
            continue
        price = backend.fetch_price(provider_id=message.provider_id, account=message.sending_number.account.credentials)
        if price is not None:
            message_price_reconcile(message=message, price_cents=price)
            corrected += 1
    return corrected
