"""Reads of the messaging app."""

from __future__ import annotations

from datetime import date

import phonenumbers
from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from messaging.keywords import OPT_OUT_INTENTS, Intent
from messaging.models import Price, SendingNumber
from tenants.models import Tenant


def prices_on(*, tenant: Tenant, day: date) -> dict[tuple[str, str], int]:
    """{(provider, country): cents per segment} in force on ``day`` (the latest effective date wins)."""
    prices: dict[tuple[str, str], int] = {}
    for provider, country, cents in (
        Price.objects.filter(tenant=tenant, effective_from__lte=day)
        .order_by("effective_from")
        .values_list("provider", "country", "cents_per_segment")
    ):
        prices[(provider, country)] = cents
    return prices


def country_of(phone_e164: str) -> str:
    """ISO country a number is priced under ("AU" for +61; CX/CC islands price as AU numbers)."""
    if phone_e164.startswith("+61"):
        return "AU"
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone_e164)) or ""
    except phonenumbers.NumberParseException:
        return ""


def status_callback_url() -> str:
    """Where the provider reports a message's status (every outbound message names it)."""
    return settings.PUBLIC_BASE_URL + reverse("messaging:status_callback")


def validity_period() -> int:
    """Seconds the provider keeps trying to deliver a message (Twilio's ValidityPeriod, at most 10 hours)."""
    return min(settings.SMS_VALIDITY_PERIOD, 36_000)


def senders_for_sending(*, tenant: Tenant) -> list[SendingNumber]:
    """The tenant's senders a campaign may use now: active, and registered when alphanumeric."""
    return [number for number in senders_of(tenant=tenant).filter(is_active=True) if number.can_launch]


def senders_of(*, tenant: Tenant) -> QuerySet[SendingNumber]:
    return SendingNumber.objects.filter(tenant=tenant).select_related("account").order_by("id")


# --- the inbox -------------------------------------------------------------------------------

INBOX_STATES = ("unread", "read", "all")
INBOX_INTENTS = {
    "all": None,
    "opt_outs": OPT_OUT_INTENTS,
    "flagged": (Intent.OPT_OUT_PHRASE,),  # opt-outs in other words: staff should see what matched
    "replies": (Intent.REPLY,),
}


def inbox(*, tenant: Tenant, state: str = "unread", campaign_id: int | None = None, intent: str = "all") -> QuerySet:
    """The tenant's inbound texts, newest first, filtered as the inbox page asks."""
    from messaging.models import Message, MessageKind

    texts = Message.objects.filter(tenant=tenant, kind=MessageKind.INBOUND)
    if state == "unread":
        texts = texts.filter(read_at__isnull=True)
    elif state == "read":
        texts = texts.filter(read_at__isnull=False)
    if campaign_id is not None:
        texts = texts.filter(campaign_id=campaign_id)
    intents = INBOX_INTENTS.get(intent)
    if intents:
        texts = texts.filter(intent__in=intents)
    return texts.select_related("contact", "campaign").order_by("-created_at", "-id")


# Messaging knows campaigns at the data level only: ``Message.campaign`` is a foreign key by
# name ("campaigns.Campaign", docs/architecture.md), and the inbox's campaign filter reads the
# campaigns table through it. No messaging module imports campaigns (campaigns imports messaging).


def _campaigns_table():
    from messaging.models import Message

    return Message.campaign.field.related_model


def inbox_campaign_known(*, tenant: Tenant, campaign_id: int) -> bool:
    """Whether the tenant has that campaign (another tenant's is as unknown as a missing one)."""
    return _campaigns_table().objects.filter(tenant=tenant, pk=campaign_id).exists()


def inbox_campaigns(*, tenant: Tenant, selected: int | None, limit: int) -> list:
    """The campaigns the inbox's filter offers: the newest ``limit``, and the one filtered on
    wherever it is."""
    campaigns = _campaigns_table().objects.filter(tenant=tenant).only("id", "name")
    offered = list(campaigns.order_by("-id")[:limit])
    if selected and selected > 0 and all(c.pk != selected for c in offered):
        offered += list(campaigns.filter(pk=selected))
    return offered


def inbox_unread(*, tenant: Tenant) -> int:
    from messaging.models import Message, MessageKind

    return Message.objects.filter(tenant=tenant, kind=MessageKind.INBOUND, read_at__isnull=True).count()
