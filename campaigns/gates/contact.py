"""Gates 3-5 on a job's contact: do-not-contact and consent (the final rules), suppression
(a job waits while another campaign's message to its contact is mid hand-off), and quiet hours
in every zone the contact may be in."""

from __future__ import annotations

import datetime as dt

from campaigns.gates.facts import BatchFacts
from campaigns.gates.rules import final_rule
from campaigns.gates.verdicts import Verdict
from campaigns.models import Gate, GateOutcome, SendJob
from contacts.models import Contact
from contacts.timezones import recipient_zones
from messaging.quiet_hours import next_allowed_at

# How long a job waits when another campaign's message to its contact is mid hand-off.
BUSY_RETRY = dt.timedelta(minutes=5)


def contact_verdict(job: SendJob, contact: Contact, *, facts: BatchFacts) -> Verdict | None:
    """Gates 3-5 on the job's contact (do-not-contact, suppression, quiet hours); None: it passes."""
    tenant, now = facts.tenant, facts.now
    rule = final_rule(contact, on_dnc=contact.phone_e164 in facts.on_dnc, now=now, tenant=tenant)
    if rule is not None:
        return Verdict(job, rule.gate, GateOutcome.SKIP, rule.reason)
    if tenant.suppression_days and contact.id in facts.busy:
        # Another campaign's message to this contact is mid hand-off: look again once it has
        # landed (then this one is suppressed) or failed (then this one may go).
        return Verdict(
            job,
            Gate.SUPPRESSION,
            GateOutcome.DEFER,
            "Another campaign's message to this contact is being handed over.",
            now + BUSY_RETRY,
        )
    return _quiet_hours_verdict(job, contact, facts=facts)


def _quiet_hours_verdict(job: SendJob, contact: Contact, *, facts: BatchFacts) -> Verdict | None:
    """Gate 5: the sending window must be open in every zone the contact may be in, from now to
    the end of the slot horizon."""
    tenant, now = facts.tenant, facts.now
    zones = recipient_zones(
        timezone=contact.timezone,
        state=contact.state,
        postcode=contact.postcode,
        phone_e164=contact.phone_e164,
        fallback=tenant.timezone,
    )
    allowed = next_allowed_at(now, zones, **facts.window)
    if allowed is not None and allowed == now:
        # A granted slot may fall up to SLOT_HORIZON (facts) later: the window must hold then too.
        allowed_later = next_allowed_at(facts.later, zones, **facts.window)
        allowed = now if allowed_later == facts.later else allowed_later
    if allowed is None:
        return Verdict(
            job,
            Gate.QUIET_HOURS,
            GateOutcome.SKIP,
            f"No hour is inside the sending window in all of {', '.join(zones)}.",
        )
    if allowed > now:
        local = allowed.astimezone(facts.zone).strftime("%d %b %H:%M")
        return Verdict(
            job,
            Gate.QUIET_HOURS,
            GateOutcome.DEFER,
            f"Quiet hours for {', '.join(zones)}; next allowed {local} ({tenant.timezone}).",
            allowed,
        )
    return None
