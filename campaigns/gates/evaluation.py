"""``evaluate``: the seven gates' verdicts on one batch of jobs, in their order (campaigns.gates
says how the order is kept set-wise), and each job's text as it would be sent."""

from __future__ import annotations

import datetime as dt

from campaigns.gates.budget import budget_pass
from campaigns.gates.contact import contact_verdict
from campaigns.gates.facts import BatchFacts, batch_facts
from campaigns.gates.prices import price_for
from campaigns.gates.senders import choose_senders, reserve_rate_slots
from campaigns.gates.verdicts import BatchDecision
from campaigns.models import Campaign, SendJob
from campaigns.rendering import render_message
from contacts.models import Contact
from links.services import Shortener
from messaging import selectors as messaging_selectors
from messaging.segments import SegmentInfo, segment_info


def evaluate(
    *,
    campaign: Campaign,
    jobs: list[SendJob],
    contacts: dict[int, Contact],
    now: dt.datetime,
    locked: bool = True,
) -> BatchDecision:
    """The batch's verdicts. ``locked``: read spend and warmup counters under row locks (held
    to commit); otherwise read them as they are and reserve conditionally at the end (the
    dispatcher decides again under locks if another worker took the room meanwhile)."""
    facts = batch_facts(campaign=campaign, jobs=jobs, contacts=contacts, now=now, locked=locked)
    decision = BatchDecision(day=facts.day, month=facts.month, locked=locked)
    decision.sender_caps = {sender.id: sender.daily_cap(facts.day) for sender in facts.senders}
    # Every URL becomes a per-recipient short link (existing ones reused: one query).
    shortener = Shortener(facts.tenant, [job.id for job in jobs])

    # Per job: cost, and the verdict of gates 3-5.
    prepared = []
    for job in jobs:
        contact = contacts[job.contact_id]
        body, links, info = _render(job, contact, facts=facts, shortener=shortener)
        price = price_for(facts.prices, facts.providers, messaging_selectors.country_of(contact.phone_e164))
        prepared.append((job, contact, body, info, price, contact_verdict(job, contact, facts=facts), links))

    wanting, later_verdict = choose_senders(prepared, facts=facts)
    slots = reserve_rate_slots(wanting, facts=facts, later_verdict=later_verdict)
    budget_pass(prepared, facts=facts, slots=slots, later_verdict=later_verdict, decision=decision)
    return decision


def _render(
    job: SendJob, contact: Contact, *, facts: BatchFacts, shortener: Shortener
) -> tuple[str, list, SegmentInfo]:
    """The job's text (its variant, filled in for its contact, URLs shortened), its short links
    and its segments."""
    tenant = facts.tenant
    values = {
        # Imported data first, the built-ins last: a custom field can never replace them.
        **{key: str(value) for key, value in (contact.custom_fields or {}).items()},
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "business_name": tenant.business_name,
        "link": facts.campaign.link_url,
    }
    body = render_message(
        facts.compiled[job.variant_index % len(facts.compiled)],
        values,
        business_name=tenant.business_name,
        opt_out_line=tenant.opt_out_line,
    )
    body, links = shortener.for_job(job.id, body)  # counted in the segments
    return body, links, segment_info(body)
