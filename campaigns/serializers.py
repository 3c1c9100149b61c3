"""The API's shapes of a campaign (campaigns/api.py): a new draft as it is sent, and a campaign
as it reads. Parsing only: the rules (tenancy, the schedule, the Link URL) are the services'."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign, JobStatus, Template
from campaigns.selectors import Estimate
from contacts.rowvalues import split_tags
from tenants.api.fields import TenantDateTimeField, TenantModelSerializer

MAX_TAGS = 50


class CampaignCreateSerializer(serializers.Serializer):
    """A new draft, as the campaign create page takes it: a template of the business, a name,
    the audience (consenting contacts with any of ``tags``; no tags: every consenting contact)
    and the schedule."""

    name = serializers.CharField(max_length=120)
    template = serializers.PrimaryKeyRelatedField(
        queryset=Template.objects.none(), help_text="The id of one of your templates (GET /api/v1/templates/)."
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        max_length=MAX_TAGS,
        required=False,
        default=list,
        help_text="Only consenting contacts with any of these tags (case does not matter). Empty or left out: "
        "every consenting contact.",
    )
    link_url = serializers.URLField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="What {{ link }} in the template points to (each recipient gets a short link to it); "
        "needed when the template uses {{ link }}.",
    )
    starts_at = TenantDateTimeField(
        required=False, allow_null=True, default=None, help_text="Left out: sending starts as soon as it is launched."
    )
    ends_at = TenantDateTimeField(
        required=False, allow_null=True, default=None, help_text="Messages not sent by then are never sent."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        view = self.context.get("view")
        if view is not None:
            # Only the tenant's own templates: another tenant's id is "does not exist", as a missing one.
            self.fields["template"].queryset = view.scoped(Template)

    def validate_tags(self, tags: list[str]) -> list[str]:
        for tag in tags:
            if split_tags(tag) != [tag.strip()]:
                raise serializers.ValidationError(f"{tag!r}: a tag cannot contain , ; or |; give each tag apart.")
        return tags


JobCountsSerializer = type(
    "JobCountsSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "The campaign's send jobs (one per audience contact) by status.",
        **{status: serializers.IntegerField(help_text=label) for status, label in JobStatus.choices},
    },
)


class CampaignSerializer(TenantModelSerializer):
    """A campaign as lists show it: its settings, state, times and jobs by status."""

    template_name = serializers.CharField(source="template.name", read_only=True)
    link_url = serializers.CharField(read_only=True, help_text="What {{ link }} points to; empty when unused.")
    jobs = serializers.SerializerMethodField(help_text="Send jobs by status (all zero until the audience is made).")

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "template",
            "template_name",
            "tags",
            "link_url",
            "starts_at",
            "ends_at",
            "created_at",
            "updated_at",
            "launched_at",
            "completed_at",
            "jobs_total",
            "estimated_cost_cents",
            "jobs",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "tags": {"help_text": "Only contacts with any of these tags; empty: all consenting contacts."},
            "jobs_total": {"help_text": "Jobs made at launch (one per contact in the audience then)."},
            "estimated_cost_cents": {"help_text": "The worst-case cost estimated at launch, in cents."},
            "updated_at": {"help_text": "The last change of any kind, the dispatcher's included."},
        }

    @extend_schema_field(JobCountsSerializer)
    def get_jobs(self, campaign: Campaign) -> dict[str, int]:
        return self.context["job_counts"].get(campaign.pk) or dict.fromkeys(JobStatus.values, 0)


class CountryCountSerializer(serializers.Serializer):
    country = serializers.CharField(help_text="ISO 3166 code of the recipients' country.")
    contacts = serializers.IntegerField()


class RemovedSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["consent", "dnc", "undeliverable", "suppression", "no_price"])
    label = serializers.CharField()
    contacts = serializers.IntegerField()


class VariantEstimateSerializer(serializers.Serializer):
    body = serializers.CharField()
    preview = serializers.CharField(help_text="As a typical recipient gets it.")
    encoding = serializers.CharField(help_text="GSM-7 or UCS-2 (the typical preview's).")
    segments = serializers.IntegerField(help_text="Segments of the typical preview.")
    worst_segments = serializers.IntegerField(help_text="Segments at the longest plausible personalisation.")


class EstimateSerializer(serializers.Serializer):
    """What the campaign page estimates: who would be sent to and the worst-case cost."""

    audience = serializers.IntegerField(help_text="Contacts that would be sent to (a draft: after the final gates).")
    targeted = serializers.IntegerField(
        allow_null=True, help_text="Drafts: contacts the tags pick, before the final gates."
    )
    removed = RemovedSerializer(many=True, help_text="Drafts: contacts each final gate removes, in gate order.")
    unpriced = CountryCountSerializer(many=True, help_text="Drafts: contacts with no price for their country.")
    waiting = CountryCountSerializer(
        many=True, help_text="Drafts: contacts priced only for a paused sender's provider (they wait)."
    )
    cents_per_segment = serializers.IntegerField(allow_null=True, help_text="The AU price per segment, in cents.")
    worst_segments = serializers.IntegerField()
    cost_cents = serializers.IntegerField(allow_null=True, help_text="Worst case: every message at its longest.")
    variants = VariantEstimateSerializer(many=True)


class ResponsesSerializer(serializers.Serializer):
    content_filtered = serializers.IntegerField(help_text="Messages carriers filtered as content (Twilio 30007).")
    opt_outs = serializers.IntegerField(help_text="Opt-out texts attributed to the campaign.")
    replies = serializers.IntegerField(help_text="Other replies attributed to the campaign.")


@dataclass(frozen=True)
class CampaignFacts:
    """What a campaign's page shows beside its settings, computed by the view for one campaign."""

    estimate: Estimate | None
    launch_problems: list[str]
    responses: dict[str, int] | None


def estimate_body(estimate: Estimate) -> dict:
    return {
        "audience": estimate.audience,
        "targeted": estimate.targeted,
        "removed": [{"key": key, "label": label, "contacts": n} for key, label, n in estimate.removed],
        "unpriced": [{"country": country, "contacts": n} for country, n in estimate.unpriced],
        "waiting": [{"country": country, "contacts": n} for country, n in estimate.waiting],
        "cents_per_segment": estimate.cents_per_segment,
        "worst_segments": estimate.worst_segments,
        "cost_cents": estimate.cost_cents,
        "variants": [
            {
                "body": variant.body,
                "preview": variant.preview,
                "encoding": variant.typical.encoding,
                "segments": variant.typical.segments,
                "worst_segments": variant.worst.segments,
            }
            for variant in estimate.variants
        ],
    }


class CampaignDetailSerializer(CampaignSerializer):
    """A campaign as its page shows it: also the estimate, why it cannot launch yet (drafts) and
    the responses so far (once launched)."""

    estimate = serializers.SerializerMethodField(
        help_text="Null when a variant no longer renders (launch_problems says why)."
    )
    launch_problems = serializers.SerializerMethodField(
        help_text="Drafts: why launching would be refused now; empty when it would not."
    )
    responses = serializers.SerializerMethodField(help_text="Null until launched.")

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "estimate", "launch_problems", "responses"]
        read_only_fields = fields

    @extend_schema_field(EstimateSerializer(allow_null=True))
    def get_estimate(self, campaign: Campaign) -> dict | None:
        estimate = self.context["facts"].estimate
        return None if estimate is None else estimate_body(estimate)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_launch_problems(self, campaign: Campaign) -> list[str]:
        return self.context["facts"].launch_problems

    @extend_schema_field(ResponsesSerializer(allow_null=True))
    def get_responses(self, campaign: Campaign) -> dict | None:
        return self.context["facts"].responses
