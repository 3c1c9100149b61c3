"""The final rules: gates that rule a contact out for good before anything is sent
(do-not-contact, an undeliverable number, consent, suppression; no price for its country),
read alike by the dispatcher (gates 2-4) and by the launch screen."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaigns.models import Gate
from contacts.models import ConsentStatus, Contact

CONSENTING = (ConsentStatus.EXPRESS, ConsentStatus.INFERRED)


@dataclass(frozen=True)
class Rule:
    """A gate that rules a contact out for good, known before anything is sent: the dispatcher
    skips its job, and the estimate and the launch page leave it out of the count and the cost."""

    key: str  # "dnc", "undeliverable", "consent", "suppression" or "no_price"
    gate: str
    reason: str


def final_rule(contact: Contact, *, on_dnc: bool, now: dt.datetime, tenant) -> Rule | None:
    """Gates 3-4's final verdicts on one contact (do-not-contact, consent, recent campaign
    message); None when none rules it out. ``on_dnc``: its number is on the tenant's list.
    ``contact`` needs only ``undeliverable``, ``undeliverable_reason``, ``consent_status`` and
    ``last_sent_at`` (``launch_screen`` passes the facts a group of contacts shares)."""
    if on_dnc:
        return Rule("dnc", Gate.DNC, "On the do-not-contact list.")
    if contact.undeliverable:
        return Rule("undeliverable", Gate.DNC, f"Number undeliverable: {contact.undeliverable_reason}")
    if contact.consent_status not in CONSENTING:
        return Rule("consent", Gate.DNC, "No current consent on file.")
    days = tenant.suppression_days
    if days and contact.last_sent_at and contact.last_sent_at > now - dt.timedelta(days=days):
        when = contact.last_sent_at.astimezone(tenant.zone).strftime("%d %b %Y")
        return Rule("suppression", Gate.SUPPRESSION, f"Had a campaign message ({when}) within {days} days.")
    return None


def no_price_rule(country: str) -> Rule:
    """Gate 2 on a number whose country has no price for the provider of any of the tenant's
    senders (paused ones included): it can never be sent (a deferral would keep its campaign
    running for ever), so it is skipped at once."""
    return Rule(
        "no_price",
        Gate.BUDGET,
        f"No price per segment set for {country or 'this country'}: no sender may reach it.",
    )
