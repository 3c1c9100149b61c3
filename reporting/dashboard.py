"""The tenant dashboard's figures: the heavy ones materialised (TenantStats), the light ones read live.

Live, one query each: spend rows for today and this month, the senders with today's counts,
messages sent today and this month (the same per-sender counters the senders table shows, so
the two never disagree), running campaigns with their stored progress. Materialised
(``tenant_stats_compute``, refreshed by the beat task with the campaigns while any campaign
moves, and in the background when the page finds them older than a minute): delivery and
opt-out rates over the last 24 hours, the queue (jobs due now, deferred by gate) and jobs
stuck in "unknown". The page shows how old the stored figures are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from messaging.conversation_selectors import conversation_answer_stats
from messaging.keywords import OPT_OUT_INTENTS
from messaging.models import (
    Message,
    MessageKind,
    MessageStatus,
    SenderDailyCount,
    SenderIdStatus,
    SenderKind,
    SendingNumber,
    Spend,
    SpendPeriod,
)
from messaging.services import local_periods
from reporting.models import TenantStats
from tenants.models import Tenant

STALE_AFTER = timedelta(minutes=1)
# A running campaign that settled no job for this long is called stalled on the dashboard.
STALLED_AFTER = timedelta(minutes=10)
DELIVERY_FLOOR = 0.95
OPT_OUT_CEILING = 0.02
CONVERSATIONS_PERIOD = timedelta(days=7)


def tenant_stats_compute(tenant: Tenant) -> dict:
    now = timezone.now()
    recent = Message.objects.filter(tenant=tenant, created_at__gte=now - timedelta(hours=24))
    outbound = recent.filter(kind=MessageKind.CAMPAIGN).aggregate(
        delivered=Count("id", filter=Q(status=MessageStatus.DELIVERED)),
        finals=Count(
            "id", filter=Q(status__in=(MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED))
        ),  # fmt: skip
    )
    # People who opted out, as on the campaign report (a second STOP is not a second person).
    opt_outs = (
        recent.filter(kind=MessageKind.INBOUND, intent__in=OPT_OUT_INTENTS).values("from_sender").distinct().count()
    )
    # Jobs wait only in open campaigns (a campaign stays open while any job is unknown); naming
    # them lets the database use the campaigns' own indexes, not scan every tenant's jobs.
    open_campaigns = Campaign.objects.filter(
        tenant=tenant, status__in=(CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)
    ).values_list("id", "status")
    running = [pk for pk, status in open_campaigns if status == CampaignStatus.RUNNING]
    jobs = SendJob.objects.filter(
        campaign_id__in=[pk for pk, _ in open_campaigns], status__in=(JobStatus.PENDING, JobStatus.UNKNOWN)
    )
    queue = jobs.aggregate(
        # Due means it would go now: a paused campaign's (or a paused business's) jobs wait.
        due=Count("id", filter=Q(status=JobStatus.PENDING, next_attempt_at__lte=now, campaign_id__in=running)),
        held=Count("id", filter=Q(status=JobStatus.PENDING, next_attempt_at__lte=now) & ~Q(campaign_id__in=running)),
        unknown=Count("id", filter=Q(status=JobStatus.UNKNOWN)),
    )
    deferred = dict(
        jobs.filter(status=JobStatus.PENDING, next_attempt_at__gt=now)
        .values_list("gate")
        .annotate(n=Count("id"))
        .values_list("gate", "n")
    )
    delivered, finals = outbound["delivered"], outbound["finals"]
    return {
        "delivered_24h": delivered,
        "finals_24h": finals,
        "delivery_rate_24h": delivered / finals if finals else None,
        "opt_outs_24h": opt_outs,
        "opt_out_rate_24h": min(opt_outs, delivered) / delivered if delivered else None,
        "due_now": 0 if tenant.is_paused else queue["due"],
        "held_paused": queue["held"] + (queue["due"] if tenant.is_paused else 0),
        "deferred": {gate or "none": n for gate, n in deferred.items()},
        "unknown": queue["unknown"],
    }


def tenant_stats(tenant: Tenant) -> TenantStats:
    """The stored figures: computed now the first time, a background refresh asked for when
    they are older than ``STALE_AFTER`` (beat refreshes them while campaigns move). It writes:
    the page's view calls it before rendering, never a template."""
    from reporting.tasks import refresh_later, refresh_tenant

    stored = TenantStats.objects.filter(tenant=tenant).first()
    if stored is None:
        return tenant_stats_refresh(tenant)
    if timezone.now() - stored.computed_at > STALE_AFTER:
        refresh_later(refresh_tenant, tenant.pk)
    return stored


def tenant_stats_refresh(tenant: Tenant) -> TenantStats:
    stats, _ = TenantStats.objects.update_or_create(
        tenant=tenant, defaults={"computed_at": timezone.now(), "data": tenant_stats_compute(tenant)}
    )
    return stats


@dataclass(frozen=True)
class SenderRow:
    number: SendingNumber
    warmup_day: int
    today: int
    cap: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.today / self.cap)) if self.cap else 100


def stalled_campaigns(campaigns: list[Campaign], *, now) -> list[str]:
    """A warning for each running campaign with jobs waiting that has settled none (sent,
    skipped, failed…) for ``STALLED_AFTER``, saying why: what holds most of its waiting jobs.
    Two queries, whatever the number of campaigns."""
    cutoff = now - STALLED_AFTER
    candidates = {
        campaign.pk: campaign
        for campaign in campaigns
        if campaign.status == CampaignStatus.RUNNING
        and campaign.jobs_created_at is not None
        and max(filter(None, (campaign.launched_at, campaign.starts_at, campaign.jobs_created_at))) <= cutoff
    }
    if not candidates:
        return []
    # Progress is a job leaving "pending"; a deferral rewrites decided_at but settles nothing.
    moving = set(
        SendJob.objects.filter(campaign_id__in=list(candidates), decided_at__gte=cutoff)
        .exclude(status=JobStatus.PENDING)
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    waiting = (
        SendJob.objects.filter(campaign_id__in=[pk for pk in candidates if pk not in moving], status=JobStatus.PENDING)
        .values_list("campaign_id", "gate", "outcome", "reason")
        .annotate(n=Count("id"))
        .order_by("campaign_id", "-n", "gate")
    )
    gates, outcomes = dict(Gate.choices), dict(GateOutcome.choices)
    held: dict[int, tuple[int, str]] = {}  # campaign -> (jobs waiting, why most of them wait)
    for campaign_id, gate, outcome, reason, n in waiting:
        total, why = held.get(campaign_id, (0, ""))
        if not why:
            why = (
                f"{n} held at {gates.get(gate, gate)}: {outcomes.get(outcome, outcome)} ({reason.rstrip('.')})"
                if gate
                else f"{n} not yet looked at by a sending worker (is the dispatcher running?)"
            )
        held[campaign_id] = (total + n, why)
    minutes = int(STALLED_AFTER.total_seconds() // 60)
    return [
        f"Campaign {candidates[pk].name!r} has made no progress for {minutes} minutes: {total} message"
        f"{'s' if total != 1 else ''} waiting; {why}."
        for pk, (total, why) in held.items()
    ]


def dashboard(tenant: Tenant) -> dict:
    """Everything the dashboard shows, gathered by its view (``reporting.dashboard_views``)
    before the template renders."""
    now = timezone.now()
    day, month = local_periods(tenant, now)
    spend = {
        period: cents
        for period, starts_on, cents in Spend.objects.filter(tenant=tenant, starts_on__in=(day, month)).values_list(
            "period", "starts_on", "cents"
        )
        if (period == SpendPeriod.DAY and starts_on == day) or (period == SpendPeriod.MONTH and starts_on == month)
    }
    numbers = list(SendingNumber.objects.filter(tenant=tenant, is_active=True).order_by("sender"))
    counts = dict(
        SenderDailyCount.objects.filter(sending_number__in=numbers, day=day).values_list("sending_number_id", "count")
    )
    # Messages handed to the provider, from the counters the senders table shows (a number
    # deactivated since still counts): one source, live, so the card and the table agree.
    handed_off = SenderDailyCount.objects.filter(sending_number__tenant=tenant, day__gte=month, day__lte=day).aggregate(
        today=Coalesce(Sum("count", filter=Q(day=day)), 0), month=Coalesce(Sum("count"), 0)
    )
    senders = [
        SenderRow(number, (day - number.warmup_started_on).days, counts.get(number.id, 0), number.daily_cap(day))
        for number in numbers
    ]
    # Each campaign's progress is its stored report figures: shown with their time.
    running = [
        (campaign, {**stored.data.get("progress", {}), "as_of": stored.computed_at} if stored else None)
        for campaign, stored in (
            (campaign, getattr(campaign, "stats", None))
            for campaign in Campaign.objects.filter(
                tenant=tenant, status__in=(CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)
            )
            .select_related("stats")
            .order_by("-launched_at")[:20]
        )
    ]
    figures = tenant_stats(tenant)
    data = figures.data
    warnings = []
    unregistered = [
        n.sender for n in numbers if n.kind == SenderKind.ALPHA and n.sender_id_status != SenderIdStatus.REGISTERED
    ]
    if unregistered:
        warnings.append(f"Sender IDs not on ACMA's register (campaigns cannot use them): {', '.join(unregistered)}.")
    if data["delivery_rate_24h"] is not None and data["delivery_rate_24h"] < DELIVERY_FLOOR:
        warnings.append(f"Delivery rate over the last 24 hours is {data['delivery_rate_24h']:.1%}, under 95%.")
    if data["opt_out_rate_24h"] is not None and data["opt_out_rate_24h"] > OPT_OUT_CEILING:
        warnings.append(f"Opt-out rate over the last 24 hours is {data['opt_out_rate_24h']:.1%}, over 2%.")
    if data["unknown"]:
        warnings.append(f"{data['unknown']} jobs are of unknown outcome and need a person (see their campaign pages).")
    warnings += stalled_campaigns([campaign for campaign, _progress in running], now=now)
    return {
        "spend_day": spend.get(SpendPeriod.DAY, 0),
        "spend_month": spend.get(SpendPeriod.MONTH, 0),
        "spend_day_percent": min(100, round(100 * spend.get(SpendPeriod.DAY, 0) / tenant.daily_budget_cents))
        if tenant.daily_budget_cents
        else 0,
        "spend_month_percent": min(100, round(100 * spend.get(SpendPeriod.MONTH, 0) / tenant.monthly_budget_cents))
        if tenant.monthly_budget_cents
        else 0,
        "senders": senders,
        "running": running,
        "sent_today": handed_off["today"],
        "sent_month": handed_off["month"],
        "figures": data,
        "computed_at": figures.computed_at,
        "warnings": warnings,
        # Replies received and answered over the last 7 days (live: two indexed reads).
        "conversations": conversation_answer_stats(tenant=tenant, since=now - CONVERSATIONS_PERIOD),
    }
