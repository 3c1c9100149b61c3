"""Campaigns over the API (/api/v1/campaigns/): list, create a draft, read one, and launch,
pause, resume or cancel it. Thin: the same services and selectors as the campaign pages, so a
launch the page would refuse is refused here in the same words (400), and a change the
campaign's state does not allow is a 409 naming that state.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.models import Campaign, CampaignStatus
from campaigns.rendering import TemplateError
from campaigns.serializers import (
    CampaignCreateSerializer,
    CampaignDetailSerializer,
    CampaignFacts,
    CampaignSerializer,
)
from tenants.api.errors import Conflict
from tenants.api.idempotency import idempotent
from tenants.api.query_filters import MOMENT_HELP, moment, one_of, read_filters
from tenants.api.views import TenantScopedAPIMixin
from tenants.roles import Perm

_CREATED = "2026-11-20T10:15:00+11:00"
EXAMPLE_JOBS = {
    "pending": 0, "sending": 0, "sent": 1180, "skipped": 41, "failed": 3, "expired": 0, "cancelled": 0, "unknown": 0,
}  # fmt: skip
EXAMPLE_CAMPAIGN = {
    "id": 42,
    "name": "Spring bread sale",
    "status": "completed",
    "template": 7,
    "template_name": "Bread day",
    "tags": ["vip"],
    "link_url": "https://acmebakery.com.au/spring",
    "starts_at": "2026-11-21T09:00:00+11:00",
    "ends_at": "2026-11-21T20:00:00+11:00",
    "created_at": _CREATED,
    "updated_at": "2026-11-21T11:02:40+11:00",
    "launched_at": "2026-11-20T16:40:00+11:00",
    "completed_at": "2026-11-21T11:02:40+11:00",
    "jobs_total": 1224,
    "estimated_cost_cents": 6120,
    "jobs": EXAMPLE_JOBS,
}
EXAMPLE_DRAFT = {
    **EXAMPLE_CAMPAIGN,
    "id": 43,
    "name": "Christmas pre-orders",
    "status": "draft",
    "link_url": "https://acmebakery.com.au/christmas",
    "starts_at": "2026-12-01T09:00:00+11:00",
    "ends_at": "2026-12-01T20:00:00+11:00",
    "updated_at": _CREATED,
    "launched_at": None,
    "completed_at": None,
    "jobs_total": 0,
    "estimated_cost_cents": None,
    "jobs": dict.fromkeys(EXAMPLE_JOBS, 0),
    "estimate": {
        "audience": 1180,
        "targeted": 1224,
        "removed": [
            {"key": "consent", "label": "no current consent", "contacts": 30},
            {"key": "dnc", "label": "on the do-not-contact list", "contacts": 14},
        ],
        "unpriced": [],
        "waiting": [],
        "cents_per_segment": 5,
        "worst_segments": 1,
        "cost_cents": 5900,
        "variants": [
            {
                "body": "Hi {{ first_name|there }}, pre-order your Christmas loaf: {{ link }}",
                "preview": "Hi Sam, pre-order your Christmas loaf: https://acme.sm/xxxxxx Reply STOP to opt out",
                "encoding": "GSM-7",
                "segments": 1,
                "worst_segments": 1,
            }
        ],
    },
    "launch_problems": [],
    "responses": None,
}
EXAMPLE_CREATE = {
    "name": "Christmas pre-orders",
    "template": 7,
    "tags": ["vip"],
    "link_url": "https://acmebakery.com.au/christmas",
    "starts_at": "2026-12-01T09:00:00+11:00",
    "ends_at": "2026-12-01T20:00:00+11:00",
}
EXAMPLE_LAUNCH_REFUSED = {
    "code": "validation_error",
    "message": "No active sender may be used: add a sending number.",
    "fields": {"link_url": ["The template uses {{ link }}: give the Link URL it points to (or remove {{ link }})."]},
}
EXAMPLE_CONFLICT = {"code": "conflict", "message": "A cancelled campaign cannot be resumed.", "fields": {}}

LIST_PARAMETERS = [
    OpenApiParameter("status", str, enum=CampaignStatus.values, description="Only campaigns in this state."),
    OpenApiParameter("created_since", str, description=f"Only campaigns created at or after this. {MOMENT_HELP}"),
    OpenApiParameter(
        "updated_since",
        str,
        description=f"Only campaigns changed at or after this (any change: settings, state, completion). {MOMENT_HELP}",
    ),
]


def _change_schema(verb: str, description: str, *, refused: dict | None = None):
    examples = [
        OpenApiExample("The campaign afterwards", value=EXAMPLE_CAMPAIGN, response_only=True, status_codes=["200"]),
        OpenApiExample("Wrong state", value=EXAMPLE_CONFLICT, response_only=True, status_codes=["409"]),
    ]
    if refused is not None:
        examples.append(OpenApiExample("Refused", value=refused, response_only=True, status_codes=["400"]))
    return extend_schema(
        summary=f"{verb} a campaign",
        description=description,
        request=None,
        responses={200: CampaignDetailSerializer},
        examples=examples,
    )


@extend_schema_view(
    list=extend_schema(
        summary="List campaigns",
        description="Newest first, cursor-paginated, with each campaign's send jobs by status.",
        parameters=LIST_PARAMETERS,
        examples=[OpenApiExample("A completed campaign", value=EXAMPLE_CAMPAIGN, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Read a campaign",
        description="As its page shows it: settings, state, jobs by status, the audience and worst-case cost "
        "estimate, why a draft cannot launch yet, and the responses so far.",
        responses={200: CampaignDetailSerializer},
        examples=[OpenApiExample("A draft ready to launch", value=EXAMPLE_DRAFT, response_only=True)],
    ),
    create=extend_schema(
        summary="Create a draft campaign",
        description="Staff and up. A draft sends nothing until it is launched (POST …/launch/, admins).",
        request=CampaignCreateSerializer,
        responses={201: CampaignDetailSerializer},
        examples=[
            OpenApiExample("Tagged contacts, scheduled", value=EXAMPLE_CREATE, request_only=True),
            OpenApiExample("The new draft", value=EXAMPLE_DRAFT, response_only=True, status_codes=["201"]),
        ],
    ),
)
class CampaignViewSet(TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A business's campaigns: every key reads them, staff keys draft, admin keys launch and stop."""

    queryset = Campaign.objects.select_related("template", "tenant")
    serializer_class = CampaignSerializer
    action_permissions = {
        "create": Perm.CAMPAIGNS_DRAFT,
        "launch": Perm.CAMPAIGNS_LAUNCH,
        "pause": Perm.CAMPAIGNS_LAUNCH,
        "resume": Perm.CAMPAIGNS_LAUNCH,
        "cancel": Perm.CAMPAIGNS_LAUNCH,
    }

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        zone = self.tenant.zone
        filters = read_filters(
            self.request.query_params,
            {"status": one_of(CampaignStatus.values), "created_since": moment(zone), "updated_since": moment(zone)},
        )
        if "status" in filters:
            queryset = queryset.filter(status=filters["status"])
        if "created_since" in filters:
            queryset = queryset.filter(created_at__gte=filters["created_since"])
        if "updated_since" in filters:
            queryset = queryset.filter(updated_at__gte=filters["updated_since"])
        return queryset

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # One grouped query for the page's job counts, not one per campaign.
        counts = selectors.job_counts_by_campaign(campaign_ids=[campaign.pk for campaign in page])
        context = {**self.get_serializer_context(), "job_counts": counts}
        return self.get_paginated_response(CampaignSerializer(page, many=True, context=context).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self._detail(self.get_object()))

    @idempotent
    def create(self, request, *args, **kwargs):
        serializer = CampaignCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create(tenant=self.tenant, actor=self.actor, **serializer.validated_data)
        return Response(self._detail(self._reread(campaign)), status=status.HTTP_201_CREATED)

    @_change_schema(
        "Launch",
        "Admins. A draft becomes scheduled (its start is ahead) or running; its audience is made in the "
        "background. Refused with 400 and every reason (as the launch page lists them: senders, prices, the "
        "template, the Link URL, the end time). A campaign launched already is answered as it is, unchanged.",
        refused=EXAMPLE_LAUNCH_REFUSED,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def launch(self, request, *args, **kwargs):
        return self._change(services.campaign_launch)

    @_change_schema(
        "Pause",
        "Admins. A running or scheduled campaign stops at once; nothing more is sent. Paused already: unchanged.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def pause(self, request, *args, **kwargs):
        return self._change(services.campaign_pause)

    @_change_schema(
        "Resume",
        "Admins. A paused campaign goes on (scheduled again while its start is ahead). Running already: unchanged.",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def resume(self, request, *args, **kwargs):
        return self._change(services.campaign_resume)

    @_change_schema(
        "Cancel", "Admins. Messages not sent yet never will be. Any state but completed; cancelled already: unchanged."
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, *args, **kwargs):
        return self._change(services.campaign_cancel)

    def _change(self, service) -> Response:
        campaign = self.get_object()
        try:
            service(campaign=campaign, actor=self.actor)
        except services.CampaignStateError as exc:
            raise Conflict(" ".join(exc.messages)) from exc
        return Response(self._detail(self._reread(campaign)))

    def _reread(self, campaign: Campaign) -> Campaign:
        return self.get_queryset().get(pk=campaign.pk)

    def _detail(self, campaign: Campaign) -> dict:
        """The campaign as its page shows it (the same selectors and service checks)."""
        try:
            estimate = selectors.estimate(campaign=campaign)
        except TemplateError:  # a variant no longer renders: launch_problems says why
            estimate = None
        facts = CampaignFacts(
            estimate=estimate,
            launch_problems=services.launch_problems(campaign) if campaign.status == CampaignStatus.DRAFT else [],
            responses=selectors.responses(campaign=campaign) if campaign.launched_at else None,
        )
        context = {
            **self.get_serializer_context(),
            "job_counts": {campaign.pk: selectors.job_counts(campaign=campaign)},
            "facts": facts,
        }
        return CampaignDetailSerializer(campaign, context=context).data
