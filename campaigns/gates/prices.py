"""Prices per segment as the gates read them: the senders a campaign may use, the prices of
the tenant's day, and a country's price by the dearest provider priced for it."""

from __future__ import annotations

import datetime as dt

from messaging import selectors as messaging_selectors
from messaging import services as messaging_services


def providers_of_any_sender(tenant) -> set[str]:
    """The providers of all the tenant's senders, paused or unregistered ones too: a country
    priced for one of them may be reached once that sender is usable again."""
    return {sender.account.provider for sender in messaging_selectors.senders_of(tenant=tenant)}


def price_for(prices: dict[tuple[str, str], int], providers, country: str) -> int | None:
    """Cents per segment to ``country`` by the dearest of ``providers`` priced for it (None: none is)."""
    known = [prices[(provider, country)] for provider in providers if (provider, country) in prices]
    return max(known) if known else None


def pricing(*, tenant, now: dt.datetime) -> tuple[list, dict[tuple[str, str], int], set[str]]:
    """The senders a campaign may use, the prices of the tenant's day at ``now`` and the
    providers a country is priced by (``price_for``): what estimates read to price contacts."""
    senders = messaging_selectors.senders_for_sending(tenant=tenant)
    prices = messaging_selectors.prices_on(tenant=tenant, day=messaging_services.local_periods(tenant, now)[0])
    # Without a sender yet (launch refuses then), price as any provider would.
    providers = {sender.account.provider for sender in senders} or {provider for provider, _country in prices}
    return senders, prices, providers


def country_prices(*, tenant, countries, now: dt.datetime) -> dict[str, int]:
    """Cents per segment for each of ``countries`` that has a price at ``now``, read as
    ``launch_screen`` reads them (a country without one is left out)."""
    _senders, prices, providers = pricing(tenant=tenant, now=now)
    found = {country: price_for(prices, providers, country) for country in countries}
    return {country: cents for country, cents in found.items() if cents is not None}
