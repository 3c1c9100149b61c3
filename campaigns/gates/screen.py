"""The launch screen: what the final gates known at launch (consent, do-not-contact,
suppression, price) leave of an audience, counted by the database in groups of contacts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Case, Count, Exists, F, OuterRef, Value, When

from campaigns.gates.prices import price_for, pricing, providers_of_any_sender
from campaigns.gates.rules import final_rule, no_price_rule
from contacts.models import DoNotContact
from messaging import selectors as messaging_selectors


@dataclass
class LaunchScreen:
    """What the final gates known at launch leave of an audience (``launch_screen``)."""

    targeted: int = 0
    removed: dict[str, int] = field(default_factory=dict)  # Rule.key -> contacts
    unpriced: dict[str, int] = field(default_factory=dict)  # country -> contacts with no price
    # country -> contacts priced only for a paused sender's provider: they wait for it
    waiting: dict[str, int] = field(default_factory=dict)
    sendable: dict[str, int] = field(default_factory=dict)  # country -> contacts that may go
    prices: dict[str, int] = field(default_factory=dict)  # country -> cents per segment

    @property
    def sendable_total(self) -> int:
        return sum(self.sendable.values())


@dataclass(frozen=True)
class _Facts:
    """What ``final_rule`` reads of a contact, for a group of contacts that share it."""

    undeliverable: bool
    consent_status: str
    last_sent_at: dt.datetime | None
    undeliverable_reason: str = ""


def launch_screen(*, tenant, contacts, now: dt.datetime) -> LaunchScreen:
    """Apply the final gates (consent, do-not-contact, suppression, price) to ``contacts`` as
    they stand at ``now``, by the rules the dispatcher uses (``final_rule``, ``price_for``,
    ``no_price_rule``); a contact counts under the first that removes it.

    The database groups the contacts by the facts those rules read (on the list or not, a
    campaign message inside the suppression period or not, deliverable, consent; the number
    only outside +61), so an audience of any size costs four queries and a few rule calls.
    """
    screen = LaunchScreen()
    senders, prices, providers = pricing(tenant=tenant, now=now)
    days = tenant.suppression_days
    groups = (
        contacts.order_by()
        .annotate(
            on_dnc=Exists(DoNotContact.objects.filter(tenant=tenant, phone_e164=OuterRef("phone_e164"))),
            recent=(
                Case(When(last_sent_at__gt=now - dt.timedelta(days=days), then=Value(True)), default=Value(False))
                if days
                else Value(False)
            ),
            number=Case(When(phone_e164__startswith="+61", then=Value("+61")), default=F("phone_e164")),
        )
        .values_list("on_dnc", "recent", "undeliverable", "consent_status", "number")
        .annotate(n=Count("id"))
    )
    for on_dnc, recent, undeliverable, consent_status, number, n in groups:
        screen.targeted += n
        facts = _Facts(undeliverable, consent_status, now if recent else None)
        rule = final_rule(facts, on_dnc=on_dnc, now=now, tenant=tenant)
        if rule is None:
            country = messaging_selectors.country_of(number)
            price = price_for(prices, providers, country)
            if price is None and senders and price_for(prices, providers_of_any_sender(tenant), country) is not None:
                screen.waiting[country] = screen.waiting.get(country, 0) + n  # as evaluate defers them
                continue
            if price is None:
                screen.unpriced[country] = screen.unpriced.get(country, 0) + n
                rule = no_price_rule(country)
            else:
                screen.prices[country] = price
                screen.sendable[country] = screen.sendable.get(country, 0) + n
                continue
        screen.removed[rule.key] = screen.removed.get(rule.key, 0) + n
    return screen
