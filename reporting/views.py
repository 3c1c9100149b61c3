"""Report pages: they read stored figures (reporting.models) so their time never grows with a campaign."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views import View

from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from contacts.downloads import csv_download
from links.models import Click
from reporting import stats as stats_module
from reporting.models import CampaignStats
from reporting.tasks import refresh_campaign, refresh_later
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm

# Figures of a campaign still moving are recomputed when older than this (in the background).
STALE_AFTER = timedelta(seconds=30)
STALE_AFTER_FINISHED = timedelta(minutes=10)
MAX_POINTS = 24 * 31
MAX_DOTS = 48  # hours up to which each hour gets a dot on its line
SERIES = (("sends", "Sent", "#2563eb"), ("deliveries", "Delivered", "#16a34a"), ("clicks", "Human clicks", "#9333ea"),
          ("opt_outs", "Opt-outs", "#dc2626"))  # fmt: skip


def _campaign(view: TenantScopedMixin, pk) -> Campaign:
    return view.get_scoped_or_404(Campaign.objects.select_related("template"), pk=pk)


def campaign_stats(campaign: Campaign) -> CampaignStats:
    """The stored figures; computed now the first time, refreshed in the background when stale."""
    stored = CampaignStats.objects.filter(campaign=campaign).first()
    if stored is None:
        return stats_module.campaign_stats_refresh(campaign)
    moving = campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)
    # A finished campaign still gets late clicks, opt-outs and prices: refreshed when viewed.
    if timezone.now() - stored.computed_at > (STALE_AFTER if moving else STALE_AFTER_FINISHED):
        refresh_later(refresh_campaign, campaign.pk)
    return stored


def hourly_chart(hourly: dict[str, dict[str, int]], zone) -> str:
    """A small SVG chart of the hourly series (numbers and fixed labels only: safe).

    Several hours: a line per series, with a dot on each hour while they are few enough to
    tell apart. A single hour (a small campaign sent at once) has no line to draw: a bar per
    series with its count, under the one hour's label.
    """
    present = sorted({hour for series in hourly.values() for hour in series})
    if not present:
        return ""
    first = datetime.fromisoformat(present[0])
    last = datetime.fromisoformat(present[-1])
    # Every hour between the first and the last, so a quiet night reads as zero, not as a line
    # drawn straight across it (up to a month of points; beyond, only the hours with events).
    steps = int((last - first).total_seconds() // 3600)
    hours = [(first + timedelta(hours=n)).isoformat() for n in range(steps + 1)] if steps <= MAX_POINTS else present
    span = max(int((last - first).total_seconds() // 3600), 1)
    peak = max([n for series in hourly.values() for n in series.values()] + [1])
    width, height, left, bottom, top = 640, 220, 48, 28, 20  # top: room for a bar's count above it
    plot_w, plot_h = width - left - 10, height - bottom - top

    def x(hour: str) -> float:
        return left + plot_w * ((datetime.fromisoformat(hour) - first).total_seconds() / 3600) / span

    def y(n: int) -> float:
        return top + plot_h * (1 - n / peak)

    def label(hour: str) -> str:
        return datetime.fromisoformat(hour).astimezone(zone).strftime("%d %b %H:%M")  # +9:30 zones too

    base = top + plot_h
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Per hour" class="chart">',
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#999"/>',
        f'<text x="4" y="{top + 4}" font-size="11">{peak}</text><text x="4" y="{base}" font-size="11">0</text>',
    ]
    if len(hours) == 1:
        hour, bar, gap = hours[0], 48, 16  # a bar per series, side by side, centred
        start = left + (plot_w - len(SERIES) * bar - (len(SERIES) - 1) * gap) / 2
        for n, (key, name, colour) in enumerate(SERIES):
            count = hourly.get(key, {}).get(hour, 0)
            at, summit = start + n * (bar + gap), y(count)
            parts.append(
                f'<rect x="{at:.1f}" y="{summit:.1f}" width="{bar}" height="{base - summit:.1f}" fill="{colour}">'
                f"<title>{name}: {count}</title></rect>"
                f'<text x="{at + bar / 2:.1f}" y="{summit - 4:.1f}" font-size="11" text-anchor="middle">{count}</text>'
            )
        until = (datetime.fromisoformat(hour) + timedelta(hours=1)).astimezone(zone).strftime("%H:%M")
        middle = left + plot_w / 2
        parts.append(
            f'<text x="{middle:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">{label(hour)}–{until}</text>'
        )
    else:
        for key, name, colour in SERIES:
            series = hourly.get(key, {})
            points = " ".join(f"{x(h):.1f},{y(series.get(h, 0)):.1f}" for h in hours)
            line = f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
            parts.append(f"{line}<title>{name}</title></polyline>")
            if len(hours) <= MAX_DOTS:
                parts.extend(
                    f'<circle cx="{x(h):.1f}" cy="{y(series.get(h, 0)):.1f}" r="3" fill="{colour}">'
                    f"<title>{name}, {label(h)}: {series.get(h, 0)}</title></circle>"
                    for h in hours
                )
        for hour, anchor in ((hours[0], "start"), (hours[-1], "end")):
            parts.append(
                f'<text x="{x(hour):.1f}" y="{height - 8}" font-size="11" text-anchor="{anchor}">{label(hour)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from numbers, dates and our own labels


class CampaignReportView(TenantScopedMixin, View):
    def get(self, request, pk):
        campaign = _campaign(self, pk)
        stored = campaign_stats(campaign)
        data = stored.data
        gates, outcomes = dict(Gate.choices), dict(GateOutcome.choices)
        progress = data["progress"]
        return render(
            request,
            "reporting/campaign_report.html",
            {
                "campaign": campaign,
                "stored": stored,
                "data": data,
                "jobs": [(label, data["jobs"].get(value, 0)) for value, label in JobStatus.choices],
                "gates": [
                    {
                        **row,
                        "gate_label": gates.get(row["gate"], row["gate"]),
                        "outcome_label": outcomes.get(row["outcome"], row["outcome"]),
                    }
                    for row in data["gates"]
                ],  # fmt: skip
                "decisions": [
                    {
                        **row,
                        "gate_label": gates.get(row["gate"], row["gate"]),
                        "outcome_label": outcomes.get(row["outcome"], row["outcome"]),
                    }
                    for row in data.get("decisions", [])
                ],
                "chart": hourly_chart(data["hourly"], request.tenant.zone),
                "verdicts": list(stats_module.variant_verdicts(data["variants"]).values()),
                "series": SERIES,
                "percent_done": round(100 * progress["done"] / progress["total"]) if progress["total"] else 0,
                "eta": datetime.fromisoformat(progress["eta"]) if progress["eta"] else None,
                "next_attempt": datetime.fromisoformat(progress["next_attempt"]) if progress["next_attempt"] else None,
                "running": campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED),
            },
        )


def cost_of(status: str | None, cost: int | None, price: int | None) -> int | str:
    """What a job's message cost: the provider's price, else the estimate; nothing when no
    message went (none made, or refused at hand-off: its reservation was released)."""
    if not status or status == "rejected":
        return ""
    return price if price is not None else cost


class CampaignJobsExportView(TenantScopedMixin, View):
    """Every job of a campaign as CSV, streamed, formula-injection safe, audited."""

    permission = Perm.CONTACTS_EXPORT

    def get(self, request, pk):
        campaign = _campaign(self, pk)
        zone = request.tenant.zone

        def clicks(human: bool | None):
            scope = Click.objects.filter(link__send_job_id=OuterRef("id"))
            if human is not None:
                scope = scope.filter(is_human=human)
            counted = scope.order_by().values("link__send_job_id").annotate(n=Count("id")).values("n")
            return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

        jobs = (
            SendJob.objects.filter(campaign=campaign)
            .annotate(human=clicks(True), fetches=clicks(None))
            .values_list(
                "contact__phone_e164", "contact__first_name", "contact__last_name", "variant_index", "status",
                "gate", "outcome", "reason", "message__status", "message__error_code", "message__cost_cents",
                "message__provider_price_cents", "message__handed_off_at", "human", "fetches",
            )
            .order_by("id")
        )  # fmt: skip
        rows = (
            [
                phone, first, last, variant + 1, status, gate, outcome, reason, message_status or "", code or "",
                cost_of(message_status, cost, price), handed.astimezone(zone).isoformat() if handed else "",
                human, fetches,
            ]
            for (phone, first, last, variant, status, gate, outcome, reason, message_status, code, cost, price,
                 handed, human, fetches) in jobs.iterator(chunk_size=5000)
        )  # fmt: skip
        header = [
            "phone", "first_name", "last_name", "variant", "job_status", "gate", "outcome", "reason",
            "message_status", "error_code", "cost_cents", "handed_off_at", "human_clicks", "all_fetches",
        ]  # fmt: skip
        return csv_download(
            request,
            filename=f"campaign-{campaign.pk}-jobs.csv",
            header=header,
            rows=rows,
            what=f"campaign {campaign.pk} jobs",
        )
