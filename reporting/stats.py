"""A campaign's report figures, computed set-wise and stored (reporting.models.CampaignStats).

``campaign_stats_compute`` runs a fixed number of aggregate queries (about twenty, whatever the
campaign's size) and returns plain JSON-able data; ``campaign_stats_refresh`` stores it. The
report page only reads the stored row. Every figure names its rows: jobs by status and gate,
campaign messages by status and error code, clicks by verdict, inbound texts by intent.
"""

from __future__ import annotations

import math
import time as clock
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Count, Exists, Min, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Gate, GateTally, JobStatus, SendJob
from links.models import Click
from messaging.keywords import OPT_OUT_INTENTS
from messaging.models import Message, MessageKind, MessageStatus
from reporting.models import CampaignStats

# What each provider error code means (docs/twilio.md), for the report's failure breakdown.
ERROR_MEANINGS = {
    "21610": "Recipient had replied STOP to this sender",
    "21211": "Invalid number",
    "21614": "Not a mobile number",
    "30001": "Queue overflow (sent too fast)",
    "30003": "Handset unreachable",
    "30004": "Message blocked",
    "30005": "Unknown or inactive number",
    "30006": "Landline or unreachable carrier",
    "30007": "Filtered by the carrier as content",
    "30008": "Unknown error",
}
FINAL = (MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED)
PACE_WINDOW = timedelta(minutes=5)


@contextmanager
def snapshot():
    """One consistent view of the database for the queries inside (REPEATABLE READ on
    PostgreSQL; SQLite's read transaction is one already), so figures computed by several
    queries agree with each other while messages keep arriving. Inside a caller's transaction,
    that transaction is the view."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else min(part, whole) / whole


# The fewest messages per variant (delivered ones for clicks and opt-outs, ones with a final
# report for delivery) before the report compares variants at all. Clicks and opt-outs run at a
# few percent: below about a hundred messages a side, one or two more clicks swing the rate by
# points and the normal approximation behind the z-test does not hold, so any difference a
# business would act on is indistinguishable from chance. Below it the report says how many
# more messages each variant needs.
MIN_PER_VARIANT = 100


def compare(a: tuple[int, int], b: tuple[int, int]) -> dict:
    """Two proportions (hits, trials): the difference and whether it means anything (a two-sided
    two-proportion z-test at 95%). Below MIN_PER_VARIANT trials on a side nothing is tested:
    ``enough`` is False and ``needed`` says how many more trials the smaller side needs."""
    (x1, n1), (x2, n2) = a, b
    # A click or an opt-out proves a delivery the carrier may never have reported, so hits can
    # outnumber trials; a proportion above 1 means nothing (and breaks the square root).
    x1, x2 = min(x1, n1), min(x2, n2)
    if min(n1, n2) < MIN_PER_VARIANT:
        return {"z": None, "meaningful": False, "enough": False, "needed": MIN_PER_VARIANT - min(n1, n2)}
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return {"z": 0.0, "meaningful": False, "enough": True, "needed": 0}
    z = (p1 - p2) / spread
    return {"z": round(z, 2), "meaningful": abs(z) >= 1.96, "enough": True, "needed": 0}


# The variant comparisons the report makes: (measure, hits, trials, what is counted, what
# the winner did, what the trials are called). Fewest opt-outs wins.
MEASURES = (
    ("delivery", "delivered", "finals", "Delivery", "was delivered more often", "messages with a delivery report"),
    ("ctr", "clickers", "delivered", "Clicks", "got more clicks", "delivered messages"),
    ("opt_outs", "opt_outs", "delivered", "Opt-outs", "had fewer opt-outs", "delivered messages"),
)


def _percent(hits: int, trials: int) -> str:
    return f"{100 * min(hits, trials) / trials:.1f}%"


def variant_verdicts(variants: list[dict]) -> dict[str, dict]:
    """How the variants compare on each measure, with a sentence a business owner reads:
    "Clicks: Variant 2 got more clicks (4.1% vs 2.0%), but the difference could still be chance."
    Built from the stored per-variant rows alone, so figures stored before this wording read the
    same way. Fewer than two variants: no verdicts."""
    if len(variants) < 2:
        return {}
    verdicts = {}
    for measure, hits, trials, title, won, unit in MEASURES:
        fewest = min(row[trials] for row in variants)
        if fewest < MIN_PER_VARIANT:
            needed = MIN_PER_VARIANT - fewest
            verdicts[measure] = {
                "best": None, "meaningful": False, "enough": False, "needed": needed, "z": None,
                "sentence": f"{title}: not enough data yet ({needed:,} more {unit} per variant needed; "
                            f"variants are compared from {MIN_PER_VARIANT} each).",
            }  # fmt: skip
            continue
        ranked = sorted(variants, key=lambda r: min(r[hits], r[trials]) / r[trials])
        if measure != "opt_outs":
            ranked.reverse()  # highest rate first; for opt-outs the lowest
        best, second = ranked[0], ranked[1]
        result = compare((best[hits], best[trials]), (second[hits], second[trials]))
        rates = (_percent(best[hits], best[trials]), _percent(second[hits], second[trials]))
        if rates[0] == rates[1]:
            sentence = f"{title}: no difference yet ({rates[0]} each)."
        else:
            against = rates[1] if len(variants) == 2 else f"{rates[1]} for Variant {second['index'] + 1}, the next best"
            chance = (
                "a difference too large to be chance"
                if result["meaningful"]
                else "but the difference could still be chance"
            )
            sentence = f"{title}: Variant {best['index'] + 1} {won} ({rates[0]} vs {against}), {chance}."
        verdicts[measure] = {"best": best["index"], **result, "sentence": sentence}
    return verdicts


def campaign_stats_compute(campaign: Campaign) -> dict:
    """The report's figures as plain JSON-able data, from a fixed number of aggregate queries.
    Run it inside ``snapshot()`` (``campaign_stats_refresh`` does) so that the figures of the
    parts below, each read by its own queries, agree with each other."""
    now = timezone.now()
    jobs = SendJob.objects.filter(campaign=campaign)
    messages = Message.objects.filter(campaign=campaign, kind=MessageKind.CAMPAIGN)
    live = messages.exclude(status=MessageStatus.REJECTED)
    clicks = Click.objects.filter(tenant=campaign.tenant, campaign_id=campaign.pk)
    inbound = Message.objects.filter(campaign=campaign, kind=MessageKind.INBOUND)

    job_figures = _jobs_part(campaign, jobs)
    by_status, errors, money = _messages_part(messages, live)
    click_figures = _clicks_part(clicks)
    intents = dict(inbound.values_list("intent").annotate(n=Count("id")).values_list("intent", "n"))
    variants = _variants_part(campaign, jobs, inbound)
    timeline = _hourly_part(messages=messages, live=live, clicks=clicks, inbound=inbound)
    progress = _progress_part(campaign, jobs=jobs, live=live, job_status=job_figures["jobs"], now=now)

    delivered = by_status.get(MessageStatus.DELIVERED, 0)
    finals = sum(by_status.get(s, 0) for s in FINAL)
    human_clickers = click_figures["human_clickers"]
    # People who opted out (a second STOP from the same number is not a second person).
    opt_outs = inbound.filter(intent__in=OPT_OUT_INTENTS).values("from_sender").distinct().count()
    return {
        "audience": progress["total"],
        **job_figures,  # jobs, gates, decisions, reasons
        "messages": by_status,
        "errors": errors,
        "handed_off": money["handed_off"],
        "reported_sent": sum(
            by_status.get(s, 0) for s in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
        ),  # fmt: skip
        "delivered": delivered,
        "finals": finals,
        "clicks": click_figures,
        "inbound": intents,
        "opt_outs": opt_outs,
        "replies": intents.get("reply", 0),
        "rates": {
            "delivery": _rate(delivered, finals),
            "human_ctr": _rate(human_clickers, delivered),
            "opt_out": _rate(opt_outs, delivered),
            "reply": _rate(intents.get("reply", 0), delivered),
        },
        "money": {
            "estimated": campaign.estimated_cost_cents,
            "reserved": money["reserved"],
            "actual": money["actual"],
            "priced": money["priced"],
            "per_delivered": round(money["actual"] / delivered, 2) if delivered else None,
            "per_human_click": round(money["actual"] / human_clickers, 2) if human_clickers else None,
        },
        "variants": variants,
        "verdicts": variant_verdicts(variants),
        "hourly": timeline,
        "progress": progress,
    }


def _jobs_part(campaign: Campaign, jobs) -> dict:
    """Jobs by status; by gate, outcome and status; every gate decision so far; the commonest reasons."""
    job_status = dict(jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    gates = [
        {"gate": gate, "outcome": outcome, "status": status, "n": n}
        for gate, outcome, status, n in jobs.exclude(gate="")
        .values_list("gate", "outcome", "status")
        .annotate(n=Count("id"))
        .order_by("gate", "outcome", "status")
    ]
    # Every decision so far, including those of jobs that went later (the jobs keep only their latest).
    order = {gate: n for n, gate in enumerate(Gate.values)}
    decisions = sorted(
        (
            {"gate": key.split(":", 1)[0], "outcome": key.split(":", 1)[1], "n": n}
            for key, n in GateTally.objects.filter(campaign=campaign).values_list("key", "n")
        ),
        key=lambda row: (order.get(row["gate"], len(order)), row["outcome"]),
    )
    reasons = [
        {"gate": gate, "reason": reason, "n": n}
        for gate, reason, n in jobs.exclude(gate="")
        .values_list("gate", "reason")
        .annotate(n=Count("id"))
        .order_by("-n")[:40]
    ]
    return {"jobs": job_status, "gates": gates, "decisions": decisions, "reasons": reasons}


def _messages_part(messages, live) -> tuple[dict, list[dict], dict]:
    """Campaign messages by status, failures by error code (commonest first), and their money."""
    by_status = {}
    errors = []
    for status, code, n in messages.values_list("status", "error_code").annotate(n=Count("id")):
        by_status[status] = by_status.get(status, 0) + n
        if code:
            errors.append({"status": status, "code": code, "meaning": ERROR_MEANINGS.get(code, ""), "n": n})
    errors.sort(key=lambda row: -row["n"])
    money = live.aggregate(
        reserved=Coalesce(Sum("cost_cents"), 0),
        actual=Coalesce(Sum(Coalesce("provider_price_cents", "cost_cents", output_field=BigIntegerField())), 0),
        priced=Count("provider_price_cents"),
        handed_off=Count("id", filter=Q(handed_off_at__isnull=False)),
    )
    return by_status, errors, money


def _clicks_part(clicks) -> dict:
    """Clicks in all, by people, the people who clicked, and the rest by why they are not people's."""
    click_rows = list(clicks.values_list("is_human", "reason").annotate(n=Count("id")))
    human_clickers = clicks.filter(is_human=True).values("contact_id").distinct().count()
    return {
        "raw": sum(n for _, _, n in click_rows),
        "human": sum(n for human, _, n in click_rows if human),
        "human_clickers": human_clickers,
        "by_reason": {reason: n for human, reason, n in click_rows if not human},
    }


def _variants_part(campaign: Campaign, jobs, inbound) -> list[dict]:
    """Per variant: jobs, sent, delivered, people who clicked, opt-outs (each traced through the
    job), and their rates."""
    per_variant: dict[int, dict] = {}

    def variant(index: int) -> dict:
        return per_variant.setdefault(index, {"index": index, "jobs": 0, "sent": 0, "delivered": 0, "finals": 0,
                                              "clickers": 0, "opt_outs": 0})  # fmt: skip

    for index, n in jobs.values_list("variant_index").annotate(n=Count("id")):
        variant(index)["jobs"] = n
    for index, sent, delivered, finals in (
        jobs.filter(message__isnull=False)
        .values_list("variant_index")
        .annotate(
            sent=Count("id", filter=Q(message__handed_off_at__isnull=False) & ~Q(message__status="rejected")),
            delivered=Count("id", filter=Q(message__status=MessageStatus.DELIVERED)),
            finals=Count("id", filter=Q(message__status__in=FINAL)),
        )
    ):
        variant(index).update(sent=sent, delivered=delivered, finals=finals)
    clicked = Click.objects.filter(link__send_job_id=OuterRef("id"), is_human=True)
    for index, n in (
        jobs.annotate(clicked=Exists(clicked)).filter(clicked=True).values_list("variant_index").annotate(n=Count("id"))
    ):
        variant(index)["clickers"] = n
    quitters = inbound.filter(intent__in=OPT_OUT_INTENTS, contact__isnull=False).values("contact_id")
    for index, n in jobs.filter(contact_id__in=quitters).values_list("variant_index").annotate(n=Count("id")):
        variant(index)["opt_outs"] = n
    variants = [per_variant[i] for i in sorted(per_variant)]
    bodies = list(campaign.template.variants.order_by("position").values_list("body", flat=True))
    for row in variants:
        row["body"] = bodies[row["index"] % len(bodies)] if bodies else ""
        row["delivery_rate"] = _rate(row["delivered"], row["finals"])
        row["ctr"] = _rate(row["clickers"], row["delivered"])
        row["opt_out_rate"] = _rate(row["opt_outs"], row["delivered"])
    return variants


def _hourly(queryset, field: str) -> dict[str, int]:
    rows = (
        queryset.exclude(**{f"{field}__isnull": True})
        .annotate(hour=TruncHour(field, tzinfo=UTC))  # never the zone active where this runs
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    )
    return {hour.isoformat(): n for hour, n in rows}


def _hourly_part(*, messages, live, clicks, inbound) -> dict[str, dict[str, int]]:
    """Sends, deliveries, people's clicks and opt-outs per UTC hour."""
    return {
        "sends": _hourly(live, "handed_off_at"),
        "deliveries": _hourly(messages.filter(status=MessageStatus.DELIVERED), "delivered_at"),
        "clicks": _hourly(clicks.filter(is_human=True), "at"),
        "opt_outs": _hourly(inbound.filter(intent__in=OPT_OUT_INTENTS), "created_at"),
    }


def _progress_part(campaign: Campaign, *, jobs, live, job_status: dict, now: datetime) -> dict:
    """How far the campaign is, its pace over the last PACE_WINDOW, what waits, and when it
    should be through."""
    tenant = campaign.tenant
    recent = live.filter(handed_off_at__gte=now - PACE_WINDOW).count()
    waiting = jobs.filter(status=JobStatus.PENDING).aggregate(
        n=Count("id"), due=Count("id", filter=Q(next_attempt_at__lte=now)), next=Min("next_attempt_at")
    )
    total = campaign.jobs_total or sum(job_status.values())
    done = total - job_status.get(JobStatus.PENDING, 0) - job_status.get(JobStatus.SENDING, 0)
    pace = recent / PACE_WINDOW.total_seconds()
    remaining = total - done
    # At the current pace (else the business's rate limit), inside its sending hours.
    eta = None
    sending = campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED) and not tenant.is_paused
    if remaining and sending:
        start = max(now, campaign.starts_at or now)
        eta = finish_estimate(start, remaining, pace or float(tenant.messages_per_second), tenant)
    late = bool(eta and campaign.ends_at and eta > campaign.ends_at)
    return {
        "total": total,
        "done": done,
        "pace_per_second": round(pace, 2),
        "pending": waiting["n"],
        "due_now": waiting["due"],
        "next_attempt": waiting["next"].isoformat() if waiting["next"] else None,
        "eta": eta.isoformat() if eta else None,
        "eta_after_end": late,
    }


def finish_estimate(start: datetime, remaining: int, rate: float, tenant) -> datetime | None:
    """When ``remaining`` messages are through at ``rate`` per second, sending only inside the
    business's sending hours (its quiet hours, in its zone); None without a rate."""
    if rate <= 0:
        return None
    zone, at, left = tenant.zone, start, float(remaining)
    opens, closes = time(tenant.quiet_hours_end), time(tenant.quiet_hours_start)
    for _ in range(400):  # days; beyond a year the estimate says nothing useful
        local = at.astimezone(zone)
        open_at = datetime.combine(local.date(), opens, tzinfo=zone)
        close_at = datetime.combine(local.date(), closes, tzinfo=zone)
        if local < open_at:
            at = open_at
        elif local >= close_at:
            at = open_at + timedelta(days=1)
        else:
            room = (close_at - at).total_seconds() * rate
            if room >= left:
                return at + timedelta(seconds=left / rate)
            left -= room
            at = open_at + timedelta(days=1)
    return None


def campaign_stats_refresh(campaign: Campaign) -> CampaignStats:
    """Compute and store the figures, unless a computation that started later stored its own
    (a page's first view and the beat task may overlap: the newer view of the data wins)."""
    started, as_of = clock.perf_counter(), timezone.now()
    with snapshot():
        data = campaign_stats_compute(campaign)
    fields = {"computed_at": as_of, "seconds": round(clock.perf_counter() - started, 3), "data": data}
    if not CampaignStats.objects.filter(campaign=campaign, computed_at__lt=as_of).update(**fields):
        try:
            with transaction.atomic():
                return CampaignStats.objects.create(campaign=campaign, tenant=campaign.tenant, **fields)
        except IntegrityError:
            pass  # a newer computation is stored: keep it
    return CampaignStats.objects.get(campaign=campaign)


def campaigns_to_refresh(*, now=None) -> list[int]:
    """Running or paused campaigns, and those that finished in the last day (late callbacks)."""
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(
            Q(status__in=(CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED))
            | Q(completed_at__gte=now - timedelta(days=1))
        ).values_list("id", flat=True)
    )


def tenants_of(campaign_ids: list[int]) -> list[int]:
    """The businesses those campaigns belong to (their dashboards move with them)."""
    return sorted(set(Campaign.objects.filter(pk__in=campaign_ids).values_list("tenant_id", flat=True)))
