"""The tenant dashboard's figures: the heavy ones materialised (TenantStats), the light ones read live.

Live, one query each: spend rows for today and this month, the senders with today's counts,
running campaigns with their stored progress. Materialised (``tenant_stats_compute``, refreshed
in the background when older than a minute): messages today, delivery and opt-out rates over
the last 24 hours, the queue (jobs due now, deferred by gate) and jobs stuck in "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob
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
DELIVERY_FLOOR = 0.95
OPT_OUT_CEILING = 0.02


def tenant_stats_compute(tenant: Tenant) -> dict:
    now = timezone.now()
    day, month = local_periods(tenant, now)
    start_of_day = datetime.combine(day, time.min, tzinfo=tenant.zone)
    start_of_month = datetime.combine(month, time.min, tzinfo=tenant.zone)
    recent = Message.objects.filter(tenant=tenant, created_at__gte=now - timedelta(hours=24))
    outbound = recent.filter(kind=MessageKind.CAMPAIGN).aggregate(
        delivered=Count("id", filter=Q(status=MessageStatus.DELIVERED)),
        finals=Count(
            "id", filter=Q(status__in=(MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED))
        ),  # fmt: skip
        today=Count("id", filter=Q(created_at__gte=start_of_day, handed_off_at__isnull=False)),
    )
    sent_month = Message.objects.filter(
        tenant=tenant, kind=MessageKind.CAMPAIGN, created_at__gte=start_of_month, handed_off_at__isnull=False
    ).count()
    # People who opted out, as on the campaign report (a second STOP is not a second person).
    opt_outs = (
        recent.filter(kind=MessageKind.INBOUND, intent__in=("opt_out", "opt_out_phrase"))
        .values("from_sender")
        .distinct()
        .count()
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
        "sent_today": outbound["today"],
        "sent_month": sent_month,
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


def dashboard(tenant: Tenant) -> dict:
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
    senders = [
        SenderRow(number, (day - number.warmup_started_on).days, counts.get(number.id, 0), number.daily_cap(day))
        for number in numbers
    ]
    running = [
        (campaign, stored.data.get("progress") if stored else None)
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
        "figures": data,
        "computed_at": figures.computed_at,
        "warnings": warnings,
    }
