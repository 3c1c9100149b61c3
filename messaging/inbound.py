"""Inbound texts: opt-outs take effect before we answer; everything is kept once.

``inbound_receive`` runs inside the webhook, in one transaction: the do-not-contact row (under
the number's advisory lock, so no hand-off to the number starts after it commits, see
contacts.guard), the provider event, the inbound message (attributed to the campaign whose
message reached the number last), the consent withdrawal and our automatic reply commit
together or not at all. A failure answers 5xx and leaves nothing behind, so the provider's
retry finds a clean slate. A replay of the same MessageSid from the same account stores
nothing and answers the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import ConsentKind, Contact, DncReason
from contacts.phones import normalize_phone
from messaging.events import account_of, event_insert
from messaging.keywords import Classification, Intent, classify
from messaging.models import EventKind, Message, MessageKind, MessageStatus, ProviderEvent
from messaging.threads import thread_note_inbound, thread_note_outbound, thread_open
from smscrm import metrics
from tenants.models import Tenant
from tenants.services import audit_record
from webhooks.events import event_emit, timestamp
from webhooks.models import EventType

logger = logging.getLogger(__name__)


class InboundAction:
    OPTED_OUT = "inbound.opted_out"
    OPTED_IN = "inbound.opted_in"


# Statuses of a campaign message that reached the provider (an inbound text can answer it).
HANDED_OVER = (
    MessageStatus.QUEUED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.UNKNOWN,
)


@dataclass(frozen=True)
class Received:
    reply: str  # the text of our answer ("" for none)
    intent: Intent
    replay: bool = False
    message: Message | None = None


def sender_phone(raw: str) -> str:
    """The texter's number in E.164 when it parses, else as given (short codes, odd senders)."""
    parsed = normalize_phone(raw)
    return parsed.e164 or (raw or "").strip()[:16]


def reply_for(tenant: Tenant, intent: Intent, opt_in_outcome: str = "") -> str:
    if intent in (Intent.OPT_OUT, Intent.OPT_OUT_PHRASE):
        return tenant.keyword_reply("opt_out_reply")
    if intent == Intent.OPT_IN:
        if opt_in_outcome == "kept":
            contact = tenant.contact_details.strip()
            how = f" at {contact}" if contact else ""
            return (
                f"{tenant.business_name} keeps your number off its list at your earlier request. "
                f"Please contact {tenant.business_name}{how} to change this."
            )
        return tenant.keyword_reply("opt_in_reply")
    if intent == Intent.HELP:
        return tenant.keyword_reply("help_reply")
    return ""


def attributed_campaign_id(*, contact: Contact | None, at: datetime) -> int | None:
    """The campaign whose message reached this contact last, within INBOUND_ATTRIBUTION_DAYS."""
    if contact is None:
        return None
    since = at - timedelta(days=settings.INBOUND_ATTRIBUTION_DAYS)
    return (
        Message.objects.filter(
            contact=contact,
            kind=MessageKind.CAMPAIGN,
            created_at__gte=since,
            status__in=HANDED_OVER,
            campaign__isnull=False,
        )
        .order_by("-created_at")
        .values_list("campaign_id", flat=True)
        .first()
    )


def _replay(tenant: Tenant, sid: str) -> Received:
    stored = Message.objects.filter(tenant=tenant, provider_id=sid, kind=MessageKind.INBOUND).first()
    intent = Intent(stored.intent) if stored is not None and stored.intent else Intent.REPLY
    # The provider only retries when it did not get our answer, so it gets the same one again.
    reply = ""
    if stored is not None:
        reply = (
            Message.objects.filter(tenant=tenant, kind=MessageKind.REPLY, dedupe_key=f"reply:{sid}")
            .values_list("body", flat=True)
            .first()
            or ""
        )
    return Received(reply=reply, intent=intent, replay=True, message=stored)


def inbound_receive(
    *, tenant: Tenant, params: dict[str, str], account_id: int | None = None, at: datetime | None = None
) -> Received:
    """Handle one inbound text addressed to one of the tenant's numbers (signed by ``account_id``)."""
    at = at or timezone.now()
    account_id = account_of(tenant.id, account_id)
    sid = params.get("MessageSid", "")[:64]
    if sid and ProviderEvent.objects.filter(account_id=account_id, message_sid=sid, status=EventKind.INBOUND).exists():
        return _replay(tenant, sid)
    phone = sender_phone(params.get("From", ""))
    our_number = (params.get("To", "") or "").strip()[:16]
    body = params.get("Body", "")
    found = classify(body, opt_out_type=params.get("OptOutType", ""), phrases=tenant.opt_out_phrases)

    with transaction.atomic():
        event_id = event_insert(
            tenant_id=tenant.id,
            account_id=account_id,
            kind=EventKind.INBOUND,
            sid=sid,
            status=EventKind.INBOUND,
            message_id=None,
            error_code="",
            done_at=None,
            at=at,
            params=params,
        )
        if event_id is None:  # the same text, delivered twice at once: the other one handles it
            transaction.set_rollback(True)
            return Received(reply=reply_for(tenant, found.intent), intent=found.intent, replay=True)
        if found.opts_out and phone.startswith("+"):
            # First of the writes: from here the number's lock holds every hand-off to it until commit.
            reason = DncReason.STOP_KEYWORD if found.intent == Intent.OPT_OUT else DncReason.OPT_OUT_REQUEST
            contact_services.dnc_add(
                tenant=tenant,
                phone=phone,
                reason=reason,
                actor=None,
                note=f"Texted {body.strip()[:100]!r}",
                source=f"inbound {sid}",
            )
        contact = Contact.objects.filter(tenant=tenant, phone_e164=phone).first()
        campaign_id = attributed_campaign_id(contact=contact, at=at)
        conversation = thread_open(tenant_id=tenant.id, phone=phone, contact=contact, at=at)
        message = Message.objects.create(
            tenant=tenant,
            contact=contact,
            conversation=conversation,
            campaign_id=campaign_id,
            kind=MessageKind.INBOUND,
            status=MessageStatus.RECEIVED,
            to_phone=our_number,
            from_sender=phone,
            body=body,
            segments=_int(params.get("NumSegments"), 1),
            provider_id=sid,
            intent=found.intent,
            matched=found.matched[:100],
            status_at=at,
        )
        ProviderEvent.objects.filter(pk=event_id).update(message=message, applied=True)
        # STOP and START are answered in full automatically; anything else waits for a person.
        awaits = not (found.opts_out or found.intent == Intent.OPT_IN)
        thread_note_inbound(
            conversation_id=conversation.id, at=at, body=body, campaign_id=campaign_id, awaits_answer=awaits
        )
        outcome = _act(tenant=tenant, found=found, contact=contact, phone=phone, message=message, at=at)
        _announce(tenant=tenant, found=found, contact=contact, phone=phone, message=message, outcome=outcome)
        reply = reply_for(tenant, found.intent, outcome)
        if reply:
            _answer(message, reply=reply, sid=sid, at=at)
    if found.opts_out and phone.startswith("+"):  # from receipt (``at``: the webhook's now) to the DNC commit
        metrics.histogram_observe("smscrm_stop_to_dnc_seconds", None, (timezone.now() - at).total_seconds())
    return Received(reply=reply, intent=found.intent, message=message)


def _answer(text: Message, *, reply: str, sid: str, at: datetime) -> None:
    """Our automatic answer to ``text``, in its thread (handed over as TwiML in the webhook's response)."""
    thread_note_outbound(conversation_id=text.conversation_id, at=at, body=reply, answered=False)
    Message.objects.create(
        tenant_id=text.tenant_id,
        contact=text.contact,
        conversation_id=text.conversation_id,
        campaign_id=text.campaign_id,
        kind=MessageKind.REPLY,
        status=MessageStatus.SENT,  # handed over as TwiML in our answer; no callback follows
        to_phone=text.from_sender,
        from_sender=text.to_phone,
        body=reply,
        dedupe_key=f"reply:{sid}"[:40],
        handed_off_at=at,
    )


def _act(*, tenant: Tenant, found: Classification, contact: Contact | None, phone: str, message: Message, at) -> str:
    """What an opt-out or opt-in does beyond the do-not-contact list; the opt-in's outcome."""
    # Evidence people read: the time in the business's zone to the second, the text as it came.
    local = timezone.localtime(at, tenant.zone)
    received = f"{local.day} {local:%b %Y %H:%M:%S} {local.tzname()}"
    evidence = f"Text {message.provider_id} from {phone}, received {received}: “{message.body[:300]}”"
    if found.opts_out:
        if contact is not None:
            contact_services.consent_record_add(
                contact=contact,
                actor=None,
                kind=contact.consent_status if contact.has_consent else ConsentKind.EXPRESS,
                source=f"opt-out by text ({found.matched})",
                captured_at=at,
                evidence=evidence,
                withdrawn=True,
            )
        audit_record(
            tenant=tenant,
            actor=None,
            action=InboundAction.OPTED_OUT,
            target=phone,
            data={"matched": found.matched, "intent": found.intent, "campaign": message.campaign_id},
        )
        return ""
    if found.intent == Intent.OPT_IN:
        outcome = contact_services.dnc_opt_in(tenant=tenant, phone=phone, source=f"texted {found.matched}")
        if contact is not None:
            contact_services.consent_record_add(
                contact=contact,
                actor=None,
                kind=ConsentKind.EXPRESS,
                source=f"keyword {found.matched}",
                captured_at=at,
                evidence=evidence,
            )
        data = {"dnc": outcome, "contact": contact is not None}
        audit_record(tenant=tenant, actor=None, action=InboundAction.OPTED_IN, target=phone, data=data)
        return outcome
    return ""


def _announce(
    *, tenant: Tenant, found: Classification, contact: Contact | None, phone: str, message: Message, outcome: str
) -> None:
    """The text's event webhook, in its transaction: an opt-out that reached the do-not-contact
    list, an opt-in, or a reply (HELP is none). One query when the business has no subscriber."""
    data = {"phone_e164": phone, "contact_id": contact.pk if contact else None, "message_id": message.pk}
    if found.opts_out and phone.startswith("+"):
        kind = EventType.CONTACT_OPTED_OUT
        data.update(campaign_id=message.campaign_id, keyword=found.matched)
    elif found.intent == Intent.OPT_IN:
        kind = EventType.CONTACT_OPTED_IN
        data.update(keyword=found.matched, outcome=outcome)
    elif found.intent == Intent.REPLY:
        kind = EventType.MESSAGE_REPLIED
        data.update(campaign_id=message.campaign_id, body=message.body, received_at=timestamp(message.status_at))
    else:
        return
    event_emit(tenant_id=tenant.id, type=kind, data=data)


def _int(value, default: int) -> int:
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return default
