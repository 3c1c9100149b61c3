"""Status callbacks: stored once, applied in order-proof fashion.

``status_callback_record`` runs inside the webhook, so it costs two statements: an INSERT of the
event that does nothing on a replay (the (MessageSid, MessageStatus) key), and a conditional
UPDATE that moves the message only up the ranks (see MessageStatus). Rare consequences (an
error code that says something about the contact, a price) follow in Python.

A message settling as delivered, failed or undelivered is an event webhook (``SETTLED_EVENTS``):
for a business that subscribes to it, the delivery's outbox row is written in the same
transaction as the move; for the others the callback costs one more (indexed) query.

A callback can beat the dispatcher, which records a message's provider id only after the
provider call of its whole group returns: the event is then kept unapplied, and the dispatcher
(``events_apply_pending`` for the ids it just recorded) or the periodic sweep applies it.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import connection, transaction
from django.utils import timezone

from messaging import services
from messaging.models import EventKind, Message, MessageStatus, ProviderAccount, ProviderEvent
from smscrm import metrics
from webhooks.events import Subscribed, events_emit, subscribers_of, timestamp
from webhooks.models import EventType

logger = logging.getLogger(__name__)

# Our status for each of the provider's status words (docs/twilio.md lists them all).
PROVIDER_STATUS = {
    "queued": MessageStatus.QUEUED,
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
    "undelivered": MessageStatus.UNDELIVERED,
    "delivered": MessageStatus.DELIVERED,
    "partially_delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
}
# How far along its life a status is; a report only ever moves a message up.
RANK = {
    MessageStatus.SENDING: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.FAILED: 3,
    MessageStatus.UNDELIVERED: 4,
    MessageStatus.DELIVERED: 5,
    MessageStatus.REJECTED: 6,  # refused at hand-off: no report can follow
    MessageStatus.RECEIVED: 6,
}

# The event webhook of each status a message can settle on (docs/webhooks.md).
SETTLED_EVENTS = {
    MessageStatus.DELIVERED: EventType.MESSAGE_DELIVERED,
    MessageStatus.FAILED: EventType.MESSAGE_FAILED,
    MessageStatus.UNDELIVERED: EventType.MESSAGE_FAILED,
}


def below(status: str) -> list[str]:
    """Statuses a report of ``status`` may overwrite."""
    return [other for other, rank in RANK.items() if rank < RANK[status]]


def parse_dlr_date(raw: str) -> datetime | None:
    """RawDlrDoneDate is YYMMDDhhmm with no zone: read as UTC. Anything else: None."""
    raw = (raw or "").strip()
    if len(raw) != 10 or not raw.isdigit():
        return None
    try:
        return datetime.strptime(raw, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def price_cents(price: str, unit: str) -> int | None:
    """Twilio's price ("-0.07950", negative for a charge) in whole AUD cents; None if not AUD."""
    if not price or (unit or "").upper() != "AUD":
        return None
    try:
        return int((abs(Decimal(price)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class Recorded:
    stored: bool  # False: a replay, nothing changed
    applied: bool  # the message was found (the event is linked to it)
    advanced: bool  # the message's status moved


def account_of(tenant_id: int, account_id: int | None) -> int | None:
    """The account a webhook was signed by; for callers that did not say (tests, tools): the
    tenant's first account."""
    if account_id is not None:
        return account_id
    return ProviderAccount.objects.filter(tenant_id=tenant_id).order_by("id").values_list("id", flat=True).first()


def event_insert(
    *,
    tenant_id: int,
    account_id: int | None,
    kind: str,
    sid: str,
    status: str,
    message_id,
    error_code,
    done_at,
    at,
    params,
):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id (PostgreSQL and SQLite alike); the id or None."""
    values = {
        "tenant_id": tenant_id,
        "account_id": account_id,
        "kind": kind,
        "message_sid": sid,
        "status": status,
        "message_id": message_id,
        "error_code": error_code,
        "done_at": done_at,
        "applied": message_id is not None,
        "received_at": at,
        "params": params,
    }
    fields = {f.attname: f for f in ProviderEvent._meta.concrete_fields}
    prepared = [fields[column].get_db_prep_save(value, connection) for column, value in values.items()]
    columns = ", ".join(f'"{column}"' for column in values)
    marks = ", ".join(["%s"] * len(values))
    # Identifiers come from model metadata; every value is a parameter.
    sql = (
        f'INSERT INTO "{ProviderEvent._meta.db_table}" ({columns}) VALUES ({marks}) '  # noqa: S608
        'ON CONFLICT ("account_id", "message_sid", "status") DO NOTHING RETURNING "id"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, prepared)
        row = cursor.fetchone()
    return row[0] if row else None


def status_callback_record(
    *, tenant_id: int, params: dict[str, str], account_id: int | None = None, at: datetime | None = None
) -> Recorded:
    """Store a status callback once (per signing account) and apply it to the tenant's message
    with that MessageSid. A message settling as delivered or failed is an event webhook: when
    the business subscribes to it, its outbox row commits with the move (one query to ask)."""
    at = at or timezone.now()
    error_code = params.get("ErrorCode", "").strip()[:10]
    fields = {
        "tenant_id": tenant_id,
        "account_id": account_of(tenant_id, account_id),
        "sid": params.get("MessageSid", "")[:64],
        "status": params.get("MessageStatus", "").strip().lower()[:24],
        "error_code": error_code,
        "done_at": parse_dlr_date(params.get("RawDlrDoneDate", "")),
        "at": at,
        "params": params,
    }
    kind = SETTLED_EVENTS.get(PROVIDER_STATUS.get(fields["status"]))
    subscribed = subscribers_of(tenant_ids=[tenant_id], type=kind) if kind else {}
    with transaction.atomic() if subscribed else nullcontext():
        record = _record_in_one_statement if connection.vendor == "postgresql" else _record_with_orm
        recorded, message_id = record(**fields)
        if recorded.advanced and subscribed:
            _announce_settled([message_id], kind=kind, subscribed=subscribed)
    if recorded.advanced:
        metrics.message_status(PROVIDER_STATUS.get(fields["status"], "other"), error_code)
        _consequences(message_id, error_code=error_code, params=params)
    return recorded


def _record_with_orm(
    *, tenant_id, account_id, sid, status, error_code, done_at, at, params
) -> tuple[Recorded, int | None]:
    with transaction.atomic():
        message_id = (
            Message.objects.filter(tenant_id=tenant_id, provider_id=sid).values_list("id", flat=True).first()
            if sid
            else None
        )
        event_id = event_insert(
            tenant_id=tenant_id,
            account_id=account_id,
            kind=EventKind.STATUS,
            sid=sid,
            status=status,
            message_id=message_id,
            error_code=error_code,
            done_at=done_at,
            at=at,
            params=params,
        )
        if event_id is None:
            return Recorded(stored=False, applied=False, advanced=False), None
        if message_id is None:
            return Recorded(stored=True, applied=False, advanced=False), None
        advanced = _apply(message_id, status=status, error_code=error_code, done_at=done_at, at=at)
    return Recorded(stored=True, applied=True, advanced=advanced), message_id


def _announce_settled(message_ids: list[int], *, kind: str, subscribed: Subscribed) -> None:
    """message.delivered / message.failed of these messages, for their tenants' subscribers."""
    rows = Message.objects.filter(pk__in=message_ids).values_list(
        "id",
        "tenant_id",
        "provider_id",
        "campaign_id",
        "contact_id",
        "to_phone",
        "status",
        "error_code",
        "delivered_at",
    )
    events = [
        (
            tenant_id,
            {
                "message_id": pk,
                "provider_id": provider_id,
                "campaign_id": campaign_id,
                "contact_id": contact_id,
                "phone_e164": phone,
                "status": status,
                "error_code": code,
                "delivered_at": timestamp(delivered_at) if delivered_at else None,
            },
        )
        for pk, tenant_id, provider_id, campaign_id, contact_id, phone, status, code, delivered_at in rows
    ]
    events_emit(type=kind, events=events, subscribed=subscribed)


# PostgreSQL: find the message, store the event once and move the message up, in one statement
# and one round trip. A concurrent report for the same message waits for the row in the UPDATE
# and re-checks its condition against the committed status, as the ORM path's UPDATE does.
_ONE_STATEMENT = """
WITH found AS (
    SELECT id FROM messaging_message WHERE tenant_id = %(tenant)s AND provider_id = %(sid)s AND %(sid)s <> ''
), stored AS (
    INSERT INTO messaging_providerevent
        (tenant_id, account_id, kind, message_sid, status, message_id, error_code, done_at, applied,
         received_at, params)
    SELECT %(tenant)s, %(account)s, 'status', %(sid)s, %(status)s, (SELECT id FROM found), %(code)s, %(done)s,
           EXISTS (SELECT 1 FROM found), %(at)s, %(params)s
    ON CONFLICT (account_id, message_sid, status) DO NOTHING
    RETURNING message_id
), moved AS (
    UPDATE messaging_message
       SET status = %(new)s, status_at = %(at)s,
           error_code = CASE WHEN %(code)s <> '' THEN %(code)s ELSE error_code END,
           delivered_at = CASE WHEN %(new)s = 'delivered' THEN %(delivered)s ELSE delivered_at END
     WHERE id = (SELECT message_id FROM stored) AND status = ANY(%(below)s)
    RETURNING id
)
SELECT (SELECT count(*) FROM stored), (SELECT message_id FROM stored), (SELECT count(*) FROM moved)
"""


def _record_in_one_statement(
    *, tenant_id, account_id, sid, status, error_code, done_at, at, params
) -> tuple[Recorded, int | None]:
    new = PROVIDER_STATUS.get(status)
    params_field = ProviderEvent._meta.get_field("params")
    with connection.cursor() as cursor:
        cursor.execute(
            _ONE_STATEMENT,
            {
                "tenant": tenant_id,
                "account": account_id,
                "sid": sid,
                "status": status,
                "code": error_code,
                "done": done_at,
                "at": at,
                "params": params_field.get_db_prep_save(params, connection),
                # An unknown status word is stored but moves nothing.
                "new": new or "",
                "below": below(new) if new else [],
                "delivered": done_at or at,
            },
        )
        stored, message_id, moved = cursor.fetchone()
    return Recorded(stored=bool(stored), applied=message_id is not None, advanced=bool(moved)), message_id


def _apply(message_id: int, *, status: str, error_code: str, done_at, at) -> bool:
    """Move the message to ``status`` if that is a step up; True when it moved."""
    new = PROVIDER_STATUS.get(status)
    if new is None:
        return False
    changes = {"status": new, "status_at": at}
    if error_code:
        changes["error_code"] = error_code
    if new == MessageStatus.DELIVERED:
        changes["delivered_at"] = done_at or at
    # One conditional UPDATE: a concurrent report for the same message waits for this row and
    # re-checks the condition, so two reports can never both win.
    return bool(Message.objects.filter(pk=message_id, status__in=below(new)).update(**changes))


def _consequences(message_id: int, *, error_code: str, params: dict[str, str]) -> None:
    cents = price_cents(params.get("Price", ""), params.get("PriceUnit", ""))
    if not error_code and cents is None:
        return
    message = Message.objects.select_related("contact__tenant", "campaign").get(pk=message_id)
    if cents is not None:
        services.message_price_reconcile(message=message, price_cents=cents)
    if error_code and message.contact is not None:
        services.contact_consequence(
            contact=message.contact, error_code=error_code, source=f"message {message.provider_id}"
        )
    if error_code == services.CONTENT_FILTERED_CODE:
        logger.warning(
            "carrier filtered message %s of campaign %s as content (30007)", message.provider_id, message.campaign_id
        )


def events_apply_pending(*, sids: list[str] | None = None, limit: int = 1000) -> int:
    """Link and apply status events that arrived before their message's provider id was known.

    With ``sids``: those messages only (the dispatcher, right after recording them). Without:
    the oldest unapplied events (the periodic sweep). Returns how many were applied.
    """
    pending = ProviderEvent.objects.filter(kind=EventKind.STATUS, applied=False)
    if sids is not None:
        if not sids:
            return 0
        pending = pending.filter(message_sid__in=sids)
    applied = 0
    # Lowest rank first, so a message ends on its highest report.
    events = sorted(
        pending.order_by("received_at")[:limit],
        key=lambda e: RANK.get(PROVIDER_STATUS.get(e.status, MessageStatus.SENDING), 0),
    )
    tenant_ids = {event.tenant_id for event in events}
    subscribed = {kind: subscribers_of(tenant_ids=tenant_ids, type=kind) for kind in set(SETTLED_EVENTS.values())}
    for event in events:
        with transaction.atomic():
            message_id = (
                Message.objects.filter(tenant_id=event.tenant_id, provider_id=event.message_sid)
                .values_list("id", flat=True)
                .first()
            )
            if message_id is None:
                continue
            taken = ProviderEvent.objects.filter(pk=event.pk, applied=False).update(applied=True, message_id=message_id)
            if not taken:
                continue  # applied by someone else meanwhile
            advanced = _apply(
                message_id,
                status=event.status,
                error_code=event.error_code,
                done_at=event.done_at,
                at=event.received_at,
            )
            kind = SETTLED_EVENTS.get(PROVIDER_STATUS.get(event.status))
            if advanced and kind and event.tenant_id in subscribed[kind]:
                _announce_settled([message_id], kind=kind, subscribed=subscribed[kind])
        if advanced:
            _consequences(message_id, error_code=event.error_code, params=event.params)
        applied += 1
    return applied
