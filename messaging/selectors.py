"""Reads of the messaging app."""

from __future__ import annotations

from datetime import date

import phonenumbers
from django.db.models import QuerySet

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


def senders_for_sending(*, tenant: Tenant) -> list[SendingNumber]:
    """The tenant's senders a campaign may use now: active, and registered when alphanumeric."""
    return [number for number in senders_of(tenant=tenant).filter(is_active=True) if number.can_launch]


def senders_of(*, tenant: Tenant) -> QuerySet[SendingNumber]:
    return SendingNumber.objects.filter(tenant=tenant).select_related("account").order_by("id")
