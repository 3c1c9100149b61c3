"""The seven gates, evaluated for a whole batch of jobs right before hand-off.

In order: 1 kill switch, 2 budget, 3 do-not-contact, 4 suppression, 5 quiet hours, 6 rate
limit, 7 warmup; the first gate a job fails is the one recorded. Gate 1 is checked by the
dispatcher when it claims a batch and again under a share lock before every hand-off chunk.
Everything here reads the batch's data with a fixed number of queries, whatever its size.

How the order is kept while computing set-wise: gates 3-5 are per-job facts. Gates 6-7 are
computed next for the jobs that pass 3-5 (a sender with warmup room is chosen first, then a
rate-limit slot is reserved for that sender, so no slot is spent on a job without a sender;
a job with no sender room reports gate 7). Budget (gate 2) is decided last, walking the jobs
in order with a running total of what the ones that go will cost, and it wins over every
later gate's verdict: only messages that actually go consume budget.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Value, When
from django.urls import reverse

from campaigns.models import Campaign, Gate, GateOutcome, JobStatus, SendJob
from campaigns.quiet_hours import next_allowed_at
from campaigns.rendering import compile_body, placeholders, render_message
from contacts.models import ConsentStatus, Contact, DoNotContact
from contacts.timezones import recipient_zones
from links.services import Shortener
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.backends.base import OutboundSMS
from messaging.models import Message, MessageKind, MessageStatus, SendingNumber
from messaging.ratelimit import reserve_slots
from messaging.segments import SegmentInfo, segment_info
from tenants.models import Tenant
from tenants.money import format_aud

CONSENTING = (ConsentStatus.EXPRESS, ConsentStatus.INFERRED)
# A message granted a slot goes within this many seconds; quiet hours must hold for all of it.
SLOT_HORIZON = 1.0
# How long a job waits when another campaign's message to its contact is mid hand-off.
BUSY_RETRY = dt.timedelta(minutes=5)


@dataclass
class Verdict:
    job: SendJob
    gate: str
    outcome: str
    reason: str
    next_attempt_at: dt.datetime | None = None


@dataclass
class PendingMessage:
    """A campaign Message row about to be written (a model instance costs more to build)."""

    tenant_id: int
    contact_id: int
    campaign_id: int
    sending_number_id: int
    to_phone: str
    from_sender: str
    body: str
    encoding: str
    segments: int
    cost_cents: int
    dedupe_key: str
    reference: uuid.UUID = field(default_factory=uuid.uuid4)
    id: int | None = None
    status: str = MessageStatus.SENDING
    provider_id: str = ""
    error_code: str = ""
    error_message: str = ""
    links: list = field(default_factory=list)  # links.services.PendingLink, stored with the message

    @property
    def pk(self) -> int | None:
        return self.id


@dataclass
class Going:
    job: SendJob
    contact: Contact
    sender: SendingNumber
    message: PendingMessage
    outbound: OutboundSMS
    slot: float


@dataclass
class BatchDecision:
    day: dt.date
    month: dt.date
    stopped: list[Verdict] = field(default_factory=list)
    going: list[Going] = field(default_factory=list)
    price_reports: list = field(default_factory=list)
    locked: bool = True
    sender_caps: dict[int, int] = field(default_factory=dict)


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


def local_midnight_after(day: dt.date, zone) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def local_next_month(month: dt.date, zone) -> dt.datetime:
    first = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def status_callback_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("messaging:status_callback")


def compiled_variant(body: str):
    """Compile a body checked when it was saved; a custom field no contact of this batch has
    renders as its fallback (or nothing), never as an error at send time."""
    names = [item.name for item in placeholders(body)]
    return compile_body(body, custom_fields=names)


def last_senders(*, tenant_id: int, contact_ids: Sequence[int]) -> dict[int, int]:
    """{contact id: the sender of its latest campaign message}, so contacts keep their sender."""
    latest = (
        Message.objects.filter(tenant_id=tenant_id, contact_id__in=contact_ids, kind=MessageKind.CAMPAIGN)
        .exclude(status=MessageStatus.REJECTED)
        .values("contact_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    return dict(Message.objects.filter(id__in=list(latest)).values_list("contact_id", "sending_number_id"))


@dataclass
class BatchFacts:
    """What the gates read of one batch, loaded once (``_batch_facts``) with a fixed number of
    queries, and the batch's constants: every per-job step below reads only these."""

    campaign: Campaign
    tenant: Tenant
    zone: zoneinfo.ZoneInfo
    now: dt.datetime
    later: dt.datetime  # the end of a granted slot's horizon: quiet hours must hold until then
    day: dt.date
    month: dt.date
    window: dict[str, int]  # the sending window, as next_allowed_at takes it
    on_dnc: set[str]  # the batch's numbers on the do-not-contact list
    busy: set[int]  # contacts another campaign's message is being handed over to
    senders: list[SendingNumber]
    prices: dict[tuple[str, str], int]
    providers: set[str]  # of the senders that may be used now
    spent_day: int
    spent_month: int
    counts: dict[int, int]  # sender id -> messages today (its warmup count)
    sticky: dict[int, int]  # contact id -> the sender of its latest campaign message
    compiled: list  # the template's variants, compiled
    callback: str
    reachable: set[str] | None = None  # providers of every sender, paused too (read when needed)


def _batch_facts(
    *, campaign: Campaign, jobs: list[SendJob], contacts: dict[int, Contact], now: dt.datetime, locked: bool
) -> BatchFacts:
    """Read the batch's facts: do-not-contact, contacts mid hand-off elsewhere, senders, prices,
    spend and warmup counters (under row locks when ``locked``), sticky senders, variants."""
    tenant = campaign.tenant
    day, month = messaging_services.local_periods(tenant, now)
    contact_ids = [job.contact_id for job in jobs]
    phones = [contacts[cid].phone_e164 for cid in contact_ids if cid in contacts]
    on_dnc = set(DoNotContact.objects.filter(tenant=tenant, phone_e164__in=phones).values_list("phone_e164", flat=True))
    busy = set(
        SendJob.objects.filter(contact_id__in=contact_ids, status=JobStatus.SENDING)
        .exclude(campaign=campaign)
        .values_list("contact_id", flat=True)
    )
    senders = messaging_selectors.senders_for_sending(tenant=tenant)
    prices = messaging_selectors.prices_on(tenant=tenant, day=day)
    if locked:
        spent_day, spent_month = messaging_services.spend_lock(tenant=tenant, day=day, month=month)
        counts = messaging_services.sender_counts_lock(numbers=senders, day=day) if senders else {}
    else:
        spent_day, spent_month = messaging_services.spend_read(tenant=tenant, day=day, month=month)
        counts = messaging_services.sender_counts_read(numbers=senders, day=day) if senders else {}
    return BatchFacts(
        campaign=campaign,
        tenant=tenant,
        zone=tenant.zone,
        now=now,
        later=now + dt.timedelta(seconds=SLOT_HORIZON),
        day=day,
        month=month,
        window={"start_hour": tenant.quiet_hours_end, "end_hour": tenant.quiet_hours_start},
        on_dnc=on_dnc,
        busy=busy,
        senders=senders,
        prices=prices,
        providers={sender.account.provider for sender in senders},
        spent_day=spent_day,
        spent_month=spent_month,
        counts=counts,
        sticky=last_senders(tenant_id=tenant.id, contact_ids=contact_ids) if senders else {},
        compiled=[compiled_variant(variant.body) for variant in campaign.template.variants.all()],
        callback=status_callback_url(),
    )


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
    facts = _batch_facts(campaign=campaign, jobs=jobs, contacts=contacts, now=now, locked=locked)
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
        prepared.append((job, contact, body, info, price, _contact_verdict(job, contact, facts=facts), links))

    wanting, later_verdict = _choose_senders(prepared, facts=facts)
    slots = _reserve_rate_slots(wanting, facts=facts, later_verdict=later_verdict)
    _budget_pass(prepared, facts=facts, slots=slots, later_verdict=later_verdict, decision=decision)
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


def _contact_verdict(job: SendJob, contact: Contact, *, facts: BatchFacts) -> Verdict | None:
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
        # A granted slot may fall up to SLOT_HORIZON later: the window must hold then too.
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


def _choose_senders(prepared: list, *, facts: BatchFacts) -> tuple[list[tuple[SendJob, SendingNumber]], dict]:
    """Gate 7 for the jobs gates 3-5 let through: a sender with warmup room today, the contact's
    last one when it has room. Returns (job, sender) for those that have one and {job id:
    verdict} for those that wait."""
    senders, now = facts.senders, facts.now
    room = {sender.id: sender.daily_cap(facts.day) - facts.counts.get(sender.id, 0) for sender in senders}
    by_id = {sender.id: sender for sender in senders}
    later_verdict: dict[int, Verdict] = {}
    wanting = []
    for job, contact, _body, _info, _price, verdict, _links in prepared:
        if verdict is not None:
            continue
        if not senders:
            later_verdict[job.id] = Verdict(
                job, Gate.WARMUP, GateOutcome.DEFER, "No active, registered sender.", now + dt.timedelta(minutes=15)
            )
            continue
        preferred = facts.sticky.get(contact.id)
        if preferred not in room or room[preferred] <= 0:
            preferred = max(room, key=lambda sid: (room[sid], -sid))
        if room[preferred] <= 0:
            later_verdict[job.id] = Verdict(
                job,
                Gate.WARMUP,
                GateOutcome.DEFER,
                "Every sender reached today's warmup cap.",
                local_midnight_after(facts.day, facts.zone),
            )
            continue
        room[preferred] -= 1
        wanting.append((job, by_id[preferred]))
    return wanting, later_verdict


def _reserve_rate_slots(
    wanting: list[tuple[SendJob, SendingNumber]], *, facts: BatchFacts, later_verdict: dict[int, Verdict]
) -> dict[int, tuple[SendingNumber, float]]:
    """Gate 6: a rate-limit slot (tenant's and sender's) for each job that has a sender; {job id:
    (sender, slot time)}. A job without a slot gets its verdict in ``later_verdict``."""
    slots = {}
    if not wanting:
        return slots
    tenant = facts.tenant
    tenant_key = f"tenant:{tenant.id}"
    rates = {tenant_key: float(tenant.messages_per_second)}
    for _, sender in wanting:
        rates[f"sender:{sender.id}"] = float(sender.messages_per_second)
    # On this worker's clock, read now (the batch may have waited on locks): the one it
    # paces hand-offs by. Workers' clocks are NTP-synced.
    granted = reserve_slots([(tenant_key, f"sender:{sender.id}") for _, sender in wanting], rates, now=time.time())
    for (job, sender), slot in zip(wanting, granted, strict=True):
        if slot.granted:
            slots[job.id] = (sender, slot.at)
        else:
            retry = dt.datetime.fromtimestamp(slot.at, tz=dt.UTC)
            later_verdict[job.id] = Verdict(
                job,
                Gate.RATE_LIMIT,
                GateOutcome.DEFER,
                f"Rate limit ({tenant.messages_per_second}/s tenant, {sender.messages_per_second}/s {sender}).",
                retry,
            )
    return slots


def _budget_pass(
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
        validity_period=_validity_period(),
    )
    return Going(job, contact, sender, message, outbound, slot)


def _validity_period() -> int:
    return min(settings.SMS_VALIDITY_PERIOD, 36_000)
