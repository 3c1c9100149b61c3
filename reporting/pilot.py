"""The pilot check: the launch criteria, each measured from stored rows and judged PASS or FAIL.

Used by ``manage.py pilot_check`` and the pilot-check page (its runs: reporting.pilot_runs).
Every figure is recomputed from the rows themselves (messages, do-not-contact history, clicks,
spend), never from the report's stored aggregates, so a bug in those cannot hide a failure
here. The spend check reads one snapshot (REPEATABLE READ on PostgreSQL), so the spend rows
and the messages agree even while the dispatcher runs.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, Case, Count, F, Min, Q, Sum, Value, When
from django.db.models.functions import Coalesce, Trunc, TruncDate, TruncMonth
from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import DoNotContact
from contacts.services import ContactAction
from contacts.timezones import recipient_zones
from links.models import Click, ShortLink
from messaging.keywords import OPT_OUT_INTENTS
from messaging.models import Message, MessageKind, MessageStatus, Spend, SpendPeriod
from reporting.stats import ERROR_MEANINGS, FINAL, snapshot
from tenants.models import AuditEvent, Tenant
from tenants.money import format_aud

DELIVERY_FLOOR = 0.95
STOP_TO_DNC_LIMIT = dt.timedelta(seconds=60)
EXAMPLES = 5  # offending rows named per failed check
_CHUNK = 1000


TITLES = {
    "delivery": f"Delivery rate ≥ {100 * DELIVERY_FLOOR:.0f}%",
    "stop_to_dnc": f"Every STOP on the do-not-contact list within {STOP_TO_DNC_LIMIT.seconds} s",
    "clicks": "Click tracking records humans and bots",
    "duplicates": "No contact messaged twice by one campaign",
    "quiet_hours": ("Nothing handed off in quiet hours (recipient local)"),
    "spend": "Budget spend equals the sum of message costs, to the cent",
}


@dataclass
class Check:
    key: str
    title: str
    passed: bool | None  # None: nothing to judge (e.g. no STOP received), never a failure
    figure: str
    examples: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "N/A"}[self.passed]


@dataclass
class PilotResult:
    tenant: Tenant
    campaign: Campaign | None
    checked_at: dt.datetime
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return not any(check.passed is False for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.passed is False]


def pilot_check(tenant: Tenant, campaign: Campaign | None = None, *, progress=None) -> PilotResult:
    """Every criterion for ``campaign`` (or all of the tenant's campaigns); spend is tenant-wide.

    ``progress(done, total, title)`` is called before each criterion (the page shows it).
    """
    outbound = Message.objects.filter(tenant=tenant, kind=MessageKind.CAMPAIGN)
    inbound = Message.objects.filter(tenant=tenant, kind=MessageKind.INBOUND)
    clicks = Click.objects.filter(tenant=tenant)
    links = ShortLink.objects.filter(tenant=tenant)
    if campaign is not None:
        outbound = outbound.filter(campaign=campaign)
        inbound = inbound.filter(campaign=campaign)
        clicks = clicks.filter(campaign_id=campaign.pk)
        links = links.filter(campaign_id=campaign.pk)
    else:
        outbound = outbound.filter(campaign__isnull=False)
    steps = [
        (TITLES["delivery"], lambda: check_delivery(outbound)),
        (TITLES["stop_to_dnc"], lambda: check_stop_to_dnc(tenant, inbound)),
        (TITLES["clicks"], lambda: check_clicks(clicks, links)),
        (TITLES["duplicates"], lambda: check_no_duplicates(outbound)),
        (TITLES["quiet_hours"], lambda: check_quiet_hours(tenant, outbound)),
        (TITLES["spend"], lambda: check_spend(tenant)),
    ]
    checks = []
    for done, (title, run) in enumerate(steps):
        if progress is not None:
            progress(done, len(steps), title)
        checks.append(run())
    return PilotResult(tenant=tenant, campaign=campaign, checked_at=timezone.now(), checks=checks)


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def check_delivery(outbound) -> Check:
    title = TITLES["delivery"]
    counts = outbound.exclude(status=MessageStatus.REJECTED).aggregate(
        delivered=Count("id", filter=Q(status=MessageStatus.DELIVERED)),
        finals=Count("id", filter=Q(status__in=FINAL)),
        live=Count("id"),
    )
    delivered, finals, live = counts["delivered"], counts["finals"], counts["live"]
    waiting = live - finals
    if not finals:
        figure = "no message has a final status yet" + (f" ({waiting} awaiting a receipt)" if waiting else "")
        return Check("delivery", title, False, figure)
    rate = delivered / finals
    figure = f"{_percent(rate)} ({delivered} delivered of {finals} with a final status; {waiting} awaiting a receipt)"
    examples = []
    if rate < DELIVERY_FLOOR:
        examples = [
            f"{n} {status}" + (f" {code} ({ERROR_MEANINGS.get(code, 'unlisted code')})" if code else "")
            for status, code, n in outbound.filter(status__in=FINAL)
            .exclude(status=MessageStatus.DELIVERED)
            .values_list("status", "error_code")
            .annotate(n=Count("id"))
            .order_by("-n")[:EXAMPLES]
        ]
    return Check("delivery", title, rate >= DELIVERY_FLOOR, figure, examples)


def _dnc_history(tenant: Tenant, phones: set[str]) -> dict[str, list[tuple[dt.datetime, bool]]]:
    """Per phone, its do-not-contact changes in time order: (when, now on the list?).

    The audit log keeps every addition and removal, so a STOP later lifted by START still shows
    when it reached the list. An entry without an audit row (none is written for a bulk paste
    predating the log) counts from its own creation time.
    """
    history: dict[str, list[tuple[dt.datetime, bool]]] = {phone: [] for phone in phones}
    ordered = sorted(phones)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        for phone, action, at in (
            AuditEvent.objects.filter(
                tenant=tenant, action__in=(ContactAction.DNC_ADDED, ContactAction.DNC_REMOVED), target__in=chunk
            )
            .order_by("at", "id")
            .values_list("target", "action", "at")
        ):
            history[phone].append((at, action == ContactAction.DNC_ADDED))
        for phone, created in DoNotContact.objects.filter(tenant=tenant, phone_e164__in=chunk).values_list(
            "phone_e164", "created_at"
        ):
            if not any(on for _, on in history[phone]):
                history[phone].append((created, True))
                history[phone].sort(key=lambda change: change[0])
    return history


def stop_lag(changes: list[tuple[dt.datetime, bool]], at: dt.datetime) -> dt.timedelta | None:
    """How long after ``at`` the number was on the list (zero if it already was); None: never."""
    on = False
    for when, now_on in changes:
        if when > at:
            if on:
                return dt.timedelta(0)
            if now_on:
                return when - at
            continue
        on = now_on
    return dt.timedelta(0) if on else None


def check_stop_to_dnc(tenant: Tenant, inbound) -> Check:
    title = TITLES["stop_to_dnc"]
    stops = list(
        inbound.filter(intent__in=OPT_OUT_INTENTS)
        .order_by("created_at", "id")
        .values_list("from_sender", "status_at", "created_at", "provider_id")
    )
    if not stops:
        return Check("stop_to_dnc", title, None, "no STOP received")
    history = _dnc_history(tenant, {phone for phone, *_ in stops})
    slowest = dt.timedelta(0)
    late = []
    for phone, status_at, created_at, sid in stops:
        received = status_at or created_at
        lag = stop_lag(history.get(phone, []), received)
        if lag is None or lag > STOP_TO_DNC_LIMIT:
            when = timezone.localtime(received, tenant.zone).strftime("%d %b %H:%M:%S")
            late.append(f"{phone} texted at {when} ({sid or 'no sid'}): " + (
                "never on the list" if lag is None else f"on the list {lag.total_seconds():.1f} s later"
            ))  # fmt: skip
        else:
            slowest = max(slowest, lag)
    figure = f"{len(stops)} STOP{'s' if len(stops) != 1 else ''}, "
    if late:
        figure += f"{len(late)} not on the list within {STOP_TO_DNC_LIMIT.seconds} s"
    else:
        figure += f"all on the list in time (slowest {slowest.total_seconds():.3f} s)"
    return Check("stop_to_dnc", title, not late, figure, late[:EXAMPLES])


def check_clicks(clicks, links) -> Check:
    title = TITLES["clicks"]
    counts = clicks.aggregate(human=Count("id", filter=Q(is_human=True)), bots=Count("id", filter=Q(is_human=False)))
    human, bots = counts["human"], counts["bots"]
    if not human and not bots:
        sent = links.count()
        return Check("clicks", title, None, f"no clicks yet ({sent} short link{'s' if sent != 1 else ''} sent)")
    figure = f"{human} human, {bots} bot or preview"
    missing = [kind for kind, n in (("human", human), ("bot or preview", bots)) if not n]
    if missing:
        figure += f": no {' and no '.join(missing)} click recorded"
    return Check("clicks", title, not missing, figure)


def check_no_duplicates(outbound) -> Check:
    title = TITLES["duplicates"]
    live = outbound.exclude(status=MessageStatus.REJECTED)
    by_phone = list(
        live.values("campaign_id", "to_phone")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("-n", "campaign_id", "to_phone")
        .values_list("campaign_id", "to_phone", "n")
    )
    # A contact whose number changed mid-campaign is still one person.
    by_contact = list(
        live.filter(contact__isnull=False)
        .values("campaign_id", "contact_id")
        .annotate(n=Count("id"), phones=Count("to_phone", distinct=True))
        .filter(n__gt=1, phones__gt=1)
        .values_list("campaign_id", "contact_id", "n")
    )
    total = live.count()
    examples = [f"campaign {c}: {phone} messaged {n} times" for c, phone, n in by_phone[:EXAMPLES]]
    examples += [f"campaign {c}: contact {contact} messaged {n} times" for c, contact, n in by_contact[:EXAMPLES]]
    twice = len(by_phone) + len(by_contact)
    if twice:
        figure = f"{twice} recipient{'s' if twice != 1 else ''} messaged more than once by one campaign"
    else:
        figure = f"0 duplicates in {total} live message{'s' if total != 1 else ''}"
    return Check("duplicates", title, not twice, figure, examples[:EXAMPLES])


class _Window:
    """Whether an instant is inside the sending hours in every zone of a recipient.

    Exact at minute granularity: windows start on the hour and every zone's offset is a whole
    number of minutes, so all instants of one minute share the answer (cached per zones).
    """

    def __init__(self, start_hour: int, end_hour: int):
        self.start, self.end = start_hour, end_hour
        self._cache: dict[tuple[tuple[str, ...], dt.datetime], bool] = {}

    @staticmethod
    def zone(name: str) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(name)  # ZoneInfo keeps its own cache of instances

    def allows(self, zones: tuple[str, ...], at: dt.datetime) -> bool:
        minute = at.replace(second=0, microsecond=0)
        key = (zones, minute)
        if key not in self._cache:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = all(self.start <= minute.astimezone(self.zone(z)).hour < self.end for z in zones)
        return self._cache[key]


def check_quiet_hours(tenant: Tenant, outbound) -> Check:
    """Each live message's hand-off against the sending hours in every zone of its recipient.

    The database groups the messages by what decides the answer (the recipient's zone, state
    and postcode, and the minute handed off), so a million messages are a few thousand groups;
    the number decides the zones only when the contact gives none, and those are grouped by
    number too. A message whose answer was lost ("unknown") may have gone from its decision on,
    so it is judged at that time.
    """
    title = TITLES["quiet_hours"]
    # The business's own sending hours: never wider than the 09:00-21:00 convention (a database
    # constraint), so a pass here is a pass there; narrower ones are what its gate enforced.
    window = _Window(tenant.quiet_hours_end, tenant.quiet_hours_start)
    live = outbound.exclude(status=MessageStatus.REJECTED).order_by()
    no_place = Q(contact__isnull=True) | (Q(contact__timezone="") & Q(contact__state="") & Q(contact__postcode=""))
    groups = (
        live.annotate(
            minute=Trunc(Coalesce("handed_off_at", "created_at"), "minute", tzinfo=dt.UTC),
            number=Case(When(no_place, then=F("to_phone")), default=Value("")),
        )
        .values("contact__timezone", "contact__state", "contact__postcode", "number", "minute")
        .annotate(n=Count("id"), example=Min("to_phone"))
        .values_list("contact__timezone", "contact__state", "contact__postcode", "number", "minute", "n", "example")
    )
    zones_of: dict[tuple[str, str, str, str], tuple[str, ...] | None] = {}

    def zones(zone: str, state: str, postcode: str, phone: str) -> tuple[str, ...] | None:
        """The recipient's zones, or None when the contact's fields are all invalid (so the
        number decides and the group must be looked at message by message)."""
        key = (zone, state, postcode, phone)
        if key not in zones_of:
            found = recipient_zones(timezone=zone, state=state, postcode=postcode, phone_e164=phone, fallback="")
            if found != ("",):
                zones_of[key] = found
            else:  # nothing known: the number when it is part of the group, else look closer
                zones_of[key] = (tenant.timezone,) if phone else None
        return zones_of[key]

    checked, bad, unplaced = 0, [], []
    for zone, state, postcode, number, minute, n, example in groups:
        zone, state, postcode = zone or "", state or "", postcode or ""
        found = zones(zone, state, postcode, number)
        if found is None:
            unplaced.append((zone, state, postcode, minute))
            continue
        checked += n
        if not window.allows(found, minute):
            bad.append((example, minute, found, n))
    for zone, state, postcode, minute in unplaced:  # invalid place fields: rare, message by message
        rows = live.filter(contact__timezone=zone, contact__state=state, contact__postcode=postcode)
        rows = rows.annotate(moment=Coalesce("handed_off_at", "created_at")).filter(
            moment__gte=minute, moment__lt=minute + dt.timedelta(minutes=1)
        )
        for phone in rows.values_list("to_phone", flat=True):
            found = zones(zone, state, postcode, phone)
            checked += 1
            if not window.allows(found, minute):
                bad.append((phone, minute, found, 1))
    examples = [
        f"{phone} at {', '.join(at.astimezone(window.zone(z)).strftime('%H:%M') + ' ' + z for z in found)}"
        + (f" (and {n - 1} more that minute)" if n > 1 else "")
        for phone, at, found, n in bad[:EXAMPLES]
    ]
    late = sum(n for *_, n in bad)
    hours = f"{window.start:02d}:00-{window.end:02d}:00"
    figure = f"{late} of {checked} hand-off{'s' if checked != 1 else ''} outside {hours} in the recipient's zone"
    return Check("quiet_hours", title, not late, figure, examples)


def check_spend(tenant: Tenant) -> Check:
    """The budget's spend rows equal the messages' costs, per local day and month, to the cent.

    A message costs what the provider charged, else the reserved estimate; a rejected one
    costs nothing (its reservation was released).
    """
    title = TITLES["spend"]
    zone = tenant.zone
    cost = Sum(Coalesce("provider_price_cents", "cost_cents", output_field=BigIntegerField()))
    live = Message.objects.filter(tenant=tenant).exclude(status=MessageStatus.REJECTED).order_by()
    spend: dict[str, dict[dt.date, int]] = {SpendPeriod.DAY: {}, SpendPeriod.MONTH: {}}
    by_month: dict[dt.date, int] = {}
    # The messages and the spend rows seen at one instant: a reservation commits both at once.
    with snapshot():
        days_rows = live.annotate(day=TruncDate("created_at", tzinfo=zone)).values("day").annotate(c=cost)
        by_day = dict(days_rows.values_list("day", "c"))
        months_rows = live.annotate(month=TruncMonth("created_at", tzinfo=zone)).values("month").annotate(c=cost)
        for month, cents in months_rows.values_list("month", "c"):
            day = month.date() if isinstance(month, dt.datetime) else month
            by_month[day] = by_month.get(day, 0) + cents
        for period, starts_on, cents in Spend.objects.filter(tenant=tenant).values_list("period", "starts_on", "cents"):
            spend[period][starts_on] = cents
    mismatches = []
    for period, counted, label in ((SpendPeriod.DAY, by_day, "%d %b %Y"), (SpendPeriod.MONTH, by_month, "%b %Y")):
        for starts_on in sorted(set(counted) | set(spend[period])):
            recorded, summed = spend[period].get(starts_on, 0), counted.get(starts_on, 0)
            if recorded != summed:
                mismatches.append(
                    f"{starts_on.strftime(label)}: spend {format_aud(recorded)}, messages {format_aud(summed)} "
                    f"({'+' if recorded > summed else ''}{format_aud(recorded - summed)})"
                )
    total = sum(by_month.values())
    days = len(set(by_day) | set(spend[SpendPeriod.DAY]))
    if mismatches:
        figure = f"{len(mismatches)} period{'s' if len(mismatches) != 1 else ''} differ"
    else:
        figure = f"{format_aud(total)} over {days} day{'s' if days != 1 else ''}, every day and month equal"
    return Check("spend", title, not mismatches, figure, mismatches[:EXAMPLES])
