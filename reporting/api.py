"""A campaign's report over the API: GET /api/v1/campaigns/{id}/report/.

The same stored figures as the report page (``reporting.views.campaign_stats``: computed on
the first look, refreshed in the background when stale, so reading costs one row whatever the
campaign's size), with money in integer cents and every figure named. Routed in
smscrm/api_urls.py beside the campaigns router, so the campaigns app never imports reporting.
"""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from campaigns.models import Campaign, CampaignStatus, JobStatus
from messaging.models import MessageStatus
from reporting import stats
from reporting.models import CampaignStats
from reporting.views import campaign_stats
from tenants.api.fields import TenantDateTimeField
from tenants.api.views import TenantScopedAPIMixin

OUTBOUND_STATUSES = [status for status in MessageStatus.values if status != MessageStatus.RECEIVED]
COUNTS = "An object of counts keyed by {}."


def _counts(help_text: str) -> serializers.DictField:
    return serializers.DictField(child=serializers.IntegerField(), help_text=help_text)


class ReportCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=CampaignStatus.choices)


class GateRowSerializer(serializers.Serializer):
    gate = serializers.CharField(help_text="kill_switch, budget, dnc, suppression, quiet_hours, rate_limit, warmup.")
    outcome = serializers.CharField(help_text="hold, defer or skip.")
    status = serializers.CharField(required=False, help_text="The jobs' status now (gates only).")
    n = serializers.IntegerField()


class ReasonSerializer(serializers.Serializer):
    gate = serializers.CharField()
    reason = serializers.CharField()
    n = serializers.IntegerField(help_text="Jobs whose latest decision gave this reason.")


class ErrorRowSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The provider's error code.")
    meaning = serializers.CharField(help_text="What the code means; empty when unknown.")
    status = serializers.CharField(help_text="The messages' status (failed, undelivered, rejected).")
    n = serializers.IntegerField()


class ClicksSerializer(serializers.Serializer):
    raw = serializers.IntegerField(help_text="Every fetch of the campaign's short links.")
    human = serializers.IntegerField(help_text="Fetches judged a person's click.")
    human_clickers = serializers.IntegerField(help_text="People who clicked (a contact counts once).")
    by_reason = _counts("Fetches not counted as people's, by why: " + COUNTS.format("reason, e.g. link_preview"))


class RatesSerializer(serializers.Serializer):
    delivery = serializers.FloatField(allow_null=True, help_text="delivered / finals (0–1); null when no final.")
    human_ctr = serializers.FloatField(allow_null=True, help_text="human_clickers / delivered.")
    opt_out = serializers.FloatField(allow_null=True, help_text="opt_outs / delivered.")
    reply = serializers.FloatField(allow_null=True, help_text="replies / delivered.")


class MoneySerializer(serializers.Serializer):
    estimated_cents = serializers.IntegerField(allow_null=True, help_text="Worst-case estimate at launch.")
    reserved_cents = serializers.IntegerField(help_text="Reserved for the messages handed off (segments × price).")
    actual_cents = serializers.IntegerField(
        help_text="The provider's price where it reported one, else the reserved estimate."
    )
    priced_messages = serializers.IntegerField(help_text="Messages the provider has priced so far.")
    per_delivered_cents = serializers.FloatField(
        allow_null=True, help_text="actual_cents / delivered: an average, to 2 decimals."
    )
    per_human_click_cents = serializers.FloatField(
        allow_null=True, help_text="actual_cents / human_clickers: an average, to 2 decimals."
    )


class VariantSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="0 for the template's first variant.")
    body = serializers.CharField()
    jobs = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Handed off and not refused.")
    delivered = serializers.IntegerField()
    finals = serializers.IntegerField(help_text="Messages with a final report (delivered, undelivered, failed).")
    clickers = serializers.IntegerField(help_text="People who clicked.")
    opt_outs = serializers.IntegerField()
    delivery_rate = serializers.FloatField(allow_null=True)
    ctr = serializers.FloatField(allow_null=True, help_text="clickers / delivered.")
    opt_out_rate = serializers.FloatField(allow_null=True)


class VerdictSerializer(serializers.Serializer):
    best = serializers.IntegerField(allow_null=True, help_text="The leading variant's index; null: too little data.")
    meaningful = serializers.BooleanField(help_text="The difference is too large to be chance (95%).")
    enough = serializers.BooleanField(help_text="Enough messages per variant to compare at all.")
    needed = serializers.IntegerField(help_text="More messages each variant needs before comparing.")
    z = serializers.FloatField(allow_null=True)
    sentence = serializers.CharField(help_text="The verdict as the report page words it.")


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Jobs in all.")
    done = serializers.IntegerField(help_text="Jobs no longer pending or sending.")
    pace_per_second = serializers.FloatField(help_text="Messages handed off per second over the last 5 minutes.")
    pending = serializers.IntegerField(help_text="Jobs waiting (on a gate or their turn).")
    due_now = serializers.IntegerField()
    next_attempt = TenantDateTimeField(allow_null=True, help_text="The earliest pending job's next attempt.")
    eta = TenantDateTimeField(allow_null=True, help_text="When it should be through at this pace, in sending hours.")
    eta_after_end = serializers.BooleanField(help_text="The ETA is after the campaign's end: the rest would expire.")


class CampaignReportSerializer(serializers.Serializer):
    """A campaign's report, as the report page shows it. Rates are fractions (0–1), money is in
    cents, ``hourly`` buckets are UTC hours."""

    campaign = ReportCampaignSerializer()
    computed_at = TenantDateTimeField(help_text="When these figures were computed (they refresh every 30 s "
                                      "while the campaign runs).")  # fmt: skip
    audience = serializers.IntegerField(help_text="Jobs made at launch (one per contact in the audience).")
    jobs = _counts(COUNTS.format("job status (pending, sending, sent, skipped, failed, expired, cancelled, unknown)"))
    gates = GateRowSerializer(many=True, help_text="Jobs whose latest decision a gate made, by gate, outcome, status.")
    decisions = GateRowSerializer(many=True, help_text="Every gate decision so far, a job deferred twice counting 2.")
    reasons = ReasonSerializer(many=True, help_text="The commonest reasons jobs are held, deferred or skipped now.")
    messages = _counts(COUNTS.format("message status") + " Campaign messages only.")
    errors = ErrorRowSerializer(many=True, help_text="Failures by error code, commonest first.")
    handed_off = serializers.IntegerField(help_text="Messages handed to the provider.")
    reported_sent = serializers.IntegerField(help_text="Messages the provider reported sent, or further.")
    delivered = serializers.IntegerField()
    finals = serializers.IntegerField(help_text="Messages with a final report: delivered, undelivered or failed.")
    clicks = ClicksSerializer()
    inbound = _counts(COUNTS.format("intent (opt_out, opt_out_phrase, opt_in, help, reply)") + " Texts back.")
    opt_outs = serializers.IntegerField(help_text="People who opted out after it (a second STOP is not a second).")
    replies = serializers.IntegerField()
    rates = RatesSerializer()
    money = MoneySerializer()
    variants = VariantSerializer(many=True)
    verdicts = serializers.DictField(
        child=VerdictSerializer(),
        help_text="With two variants or more, keyed by measure: delivery, ctr, opt_outs. Empty otherwise.",
    )
    hourly = serializers.DictField(
        child=_counts("Counts by UTC hour (ISO 8601)."),
        help_text="Per UTC hour: sends, deliveries, clicks (people's) and opt_outs.",
    )
    progress = ProgressSerializer()


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def report_body(campaign: Campaign, stored: CampaignStats) -> dict:
    """The stored figures in the API's shape: every status present (zero when none), money named
    in cents, verdicts worded from the stored variants as the page words them."""
    data = stored.data
    money, progress, messages = data["money"], data["progress"], data.get("messages", {})
    return {
        "campaign": {"id": campaign.pk, "name": campaign.name, "status": campaign.status},
        "computed_at": stored.computed_at,
        "audience": data["audience"],
        "jobs": {status: data["jobs"].get(status, 0) for status in JobStatus.values},
        "gates": data["gates"],
        "decisions": data.get("decisions", []),
        "reasons": data.get("reasons", []),
        "messages": {status: messages.get(status, 0) for status in OUTBOUND_STATUSES},
        "errors": data["errors"],
        "handed_off": data["handed_off"],
        "reported_sent": data["reported_sent"],
        "delivered": data["delivered"],
        "finals": data["finals"],
        "clicks": data["clicks"],
        "inbound": data["inbound"],
        "opt_outs": data["opt_outs"],
        "replies": data["replies"],
        "rates": data["rates"],
        "money": {
            "estimated_cents": money["estimated"],
            "reserved_cents": money["reserved"],
            "actual_cents": money["actual"],
            "priced_messages": money["priced"],
            "per_delivered_cents": money["per_delivered"],
            "per_human_click_cents": money["per_human_click"],
        },
        "variants": data["variants"],
        "verdicts": stats.variant_verdicts(data["variants"]),
        "hourly": data["hourly"],
        "progress": {**progress, "next_attempt": _moment(progress["next_attempt"]), "eta": _moment(progress["eta"])},
    }


EXAMPLE_REPORT = {
    "campaign": {"id": 42, "name": "Spring bread sale", "status": "completed"},
    "computed_at": "2026-11-21T11:05:00+11:00",
    "audience": 1224,
    "jobs": {
        "pending": 0,
        "sending": 0,
        "sent": 1180,
        "skipped": 41,
        "failed": 3,
        "expired": 0,
        "cancelled": 0,
        "unknown": 0,
    },  # fmt: skip
    "gates": [{"gate": "dnc", "outcome": "skip", "status": "skipped", "n": 41}],
    "decisions": [{"gate": "dnc", "outcome": "skip", "n": 41}, {"gate": "quiet_hours", "outcome": "defer", "n": 200}],
    "reasons": [{"gate": "dnc", "reason": "On the do-not-contact list.", "n": 41}],
    "messages": {
        "sending": 0,
        "queued": 0,
        "sent": 20,
        "delivered": 1130,
        "undelivered": 22,
        "failed": 8,
        "rejected": 3,
        "unknown": 0,
    },  # fmt: skip
    "errors": [{"code": "30005", "meaning": "Unknown or inactive number", "status": "undelivered", "n": 22}],
    "handed_off": 1180,
    "reported_sent": 1172,
    "delivered": 1130,
    "finals": 1160,
    "clicks": {"raw": 160, "human": 131, "human_clickers": 118, "by_reason": {"link_preview": 29}},
    "inbound": {"opt_out": 9, "reply": 14},
    "opt_outs": 9,
    "replies": 14,
    "rates": {"delivery": 0.9741, "human_ctr": 0.1044, "opt_out": 0.008, "reply": 0.0124},
    "money": {
        "estimated_cents": 6120,
        "reserved_cents": 5900,
        "actual_cents": 5868,
        "priced_messages": 1150,
        "per_delivered_cents": 5.19,
        "per_human_click_cents": 49.73,
    },  # fmt: skip
    "variants": [
        {
            "index": 0,
            "body": "Hi {{ first_name|there }}, 20% off all bread today",
            "jobs": 1224,
            "sent": 1180,
            "delivered": 1130,
            "finals": 1160,
            "clickers": 118,
            "opt_outs": 9,
            "delivery_rate": 0.9741,
            "ctr": 0.1044,
            "opt_out_rate": 0.008,
        },
    ],  # fmt: skip
    "verdicts": {},
    "hourly": {
        "sends": {"2026-11-20T22:00:00+00:00": 1180},
        "deliveries": {"2026-11-20T22:00:00+00:00": 1130},
        "clicks": {"2026-11-20T23:00:00+00:00": 131},
        "opt_outs": {"2026-11-20T23:00:00+00:00": 9},
    },  # fmt: skip
    "progress": {
        "total": 1224,
        "done": 1224,
        "pace_per_second": 0.0,
        "pending": 0,
        "due_now": 0,
        "next_attempt": None,
        "eta": None,
        "eta_after_end": False,
    },  # fmt: skip
}


class CampaignReportView(TenantScopedAPIMixin, generics.GenericAPIView):
    """GET a campaign's report: every key may read it; another business's campaign is a 404."""

    queryset = Campaign.objects.select_related("template", "tenant")
    serializer_class = CampaignReportSerializer
    pagination_class = None

    @extend_schema(
        summary="A campaign's report",
        description="The report page's figures: the funnel from jobs to deliveries, clicks and opt-outs, gates, "
        "failures by error code, money in cents, variants compared, per-hour series and progress. Stored "
        "figures: `computed_at` says how old they are (refreshed every 30 s while the campaign runs).",
        examples=[OpenApiExample("A finished campaign", value=EXAMPLE_REPORT, response_only=True)],
    )
    def get(self, request, *args, **kwargs):
        campaign = self.get_object()
        stored = campaign_stats(campaign)
        return Response(self.get_serializer(report_body(campaign, stored)).data)
