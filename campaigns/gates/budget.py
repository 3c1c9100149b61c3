"""Gate 2, last in computation and first in precedence: what the jobs that go cost, against
what is left of the day's and the month's caps; and for each job that goes, its message row
and the request for the provider (``Going``)."""

from __future__ import annotations

import datetime as dt

from campaigns.gates.facts import BatchFacts, local_midnight_after, local_next_month
from campaigns.gates.prices import price_for, providers_of_any_sender
from campaigns.gates.rules import no_price_rule
from campaigns.gates.verdicts import BatchDecision, Going, PendingMessage, Verdict
from campaigns.models import Gate, GateOutcome, SendJob
from contacts.models import Contact
from messaging import selectors as messaging_selectors
from messaging.backends.base import OutboundSMS
from messaging.models import SendingNumber
from messaging.segments import SegmentInfo
from tenants.money import format_aud


def budget_pass(
    prepared: list, *, facts: BatchFacts, slots: dict, later_verdict: dict[int, Verdict], decision: BatchDecision
) -> None:
    """Gate 2, last in computation and first in precedence: walk the jobs in order with a running
    total of what the ones that go cost; a job within budget goes unless an earlier gate's or
    gate 6-7's verdict stops it."""
    left_day = facts.tenant.daily_budget_cents - facts.spent_day
    left_month = facts.tenant.monthly_budget_cents - facts.spent_month
    for job, contact, body, info, price, verdict, links in prepared:
        if price is None:
            decision.stopped.append(_unpriced_verdict(job, contact, verdict, facts=facts, later_verdict=later_verdict))
            continue
        cost = info.segments * price
        stop = _budget_verdict(job, cost, left_day=left_day, left_month=left_month, facts=facts)
        stop = stop or verdict or later_verdict.get(job.id)
        if stop is not None:
            decision.stopped.append(stop)
            continue
        left_day -= cost
        left_month -= cost
        sender, slot = slots[job.id]
        decision.going.append(
            _going(job, contact, sender, slot, body=body, info=info, cost=cost, links=links, facts=facts)
        )


def _unpriced_verdict(
    job: SendJob, contact: Contact, verdict: Verdict | None, *, facts: BatchFacts, later_verdict: dict[int, Verdict]
) -> Verdict:
    """Why a job whose country has no price for the active senders' providers does not go."""
    if verdict is not None and verdict.outcome == GateOutcome.SKIP:
        # Ruled out for good already (do-not-contact, consent, suppression): that reason
        # stands, as the estimate counts it (launch_screen applies final_rule first).
        return verdict
    if not facts.senders:
        # No usable sender at all (all paused or deregistered): tenant-wide and fixable at
        # any time, so the job waits; the earlier gates' verdict, else gate 7's, says why.
        return verdict or later_verdict[job.id]
    country = messaging_selectors.country_of(contact.phone_e164)
    if facts.reachable is None:  # read once, when needed
        facts.reachable = providers_of_any_sender(facts.tenant)
    if price_for(facts.prices, facts.reachable, country) is not None:
        # Priced for the provider of a sender that is paused now: fixable, so it waits.
        return Verdict(
            job,
            Gate.BUDGET,
            GateOutcome.DEFER,
            f"No price per segment set for {country} for {', '.join(sorted(facts.providers))}, the "
            "provider of the active senders; waiting for a sender whose provider has one.",
            facts.now + dt.timedelta(hours=1),
        )
    rule = no_price_rule(country)
    return Verdict(job, rule.gate, GateOutcome.SKIP, rule.reason)


def _budget_verdict(job: SendJob, cost: int, *, left_day: int, left_month: int, facts: BatchFacts) -> Verdict | None:
    """Gate 2 on a priced job: a message dearer than a whole cap never goes; one over what is
    left today or this month waits for the next day or month. None: within budget."""
    tenant, zone = facts.tenant, facts.zone
    if cost > tenant.daily_budget_cents or cost > tenant.monthly_budget_cents:
        return Verdict(
            job, Gate.BUDGET, GateOutcome.SKIP, f"One message costs {format_aud(cost)}, more than a whole cap."
        )
    if cost > left_day:
        return Verdict(
            job,
            Gate.BUDGET,
            GateOutcome.DEFER,
            f"Daily cap reached ({format_aud(tenant.daily_budget_cents)}).",
            local_midnight_after(facts.day, zone),
        )
    if cost > left_month:
        return Verdict(
            job,
            Gate.BUDGET,
            GateOutcome.DEFER,
            f"Monthly cap reached ({format_aud(tenant.monthly_budget_cents)}).",
            local_next_month(facts.month, zone),
        )
    return None


def _going(
    job: SendJob,
    contact: Contact,
    sender: SendingNumber,
    slot: float,
    *,
    body: str,
    info: SegmentInfo,
    cost: int,
    links: list,
    facts: BatchFacts,
) -> Going:
    """A job that goes: its message row to write and the request to hand to the provider."""
    campaign = facts.campaign
    message = PendingMessage(
        tenant_id=facts.tenant.id,
        contact_id=contact.id,
        campaign_id=campaign.id,
        sending_number_id=sender.id,
        to_phone=contact.phone_e164,
        from_sender=sender.sender,
        body=body,
        encoding=info.encoding,
        segments=info.segments,
        cost_cents=cost,
        dedupe_key=f"campaign:{campaign.id}:{contact.id}",
        links=links,
    )
    outbound = OutboundSMS(
        reference=str(message.reference),
        to=contact.phone_e164,
        sender=sender.sender,
        body=body,
        account=sender.account.credentials,
        status_callback=facts.callback,
        validity_period=messaging_selectors.validity_period(),
    )
    return Going(job, contact, sender, message, outbound, slot)
