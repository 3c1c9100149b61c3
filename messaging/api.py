"""Messages over the API (/api/v1/messages/): a business's outbound and inbound texts, read-only,
each with its status history (the provider's reports, kept as ProviderEvent rows).

Nothing secret leaves: no provider account, no webhook parameters (``ProviderEvent.params``),
no dedupe key; the body is the business's own text to or from its own contacts.
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets

from messaging.events import PROVIDER_STATUS
from messaging.models import EventKind, Message, MessageKind, MessageStatus, ProviderEvent
from tenants.api.fields import TenantDateTimeField, TenantModelSerializer
from tenants.api.query_filters import MOMENT_HELP, moment, object_id, one_of, read_filters
from tenants.api.views import TenantScopedAPIMixin


class StatusReportSerializer(TenantModelSerializer):
    """One status report the provider sent about the message, as it came."""

    at = TenantDateTimeField(source="received_at", help_text="When the report reached us.")
    status = serializers.SerializerMethodField(
        help_text="The message status the report means; null: a word we do not map."
    )
    provider_status = serializers.CharField(source="status", help_text="The provider's own word, e.g. delivered.")
    delivered_at = TenantDateTimeField(
        source="done_at", allow_null=True, help_text="The carrier's time of delivery (RawDlrDoneDate), when given."
    )

    class Meta:
        model = ProviderEvent
        fields = ["at", "status", "provider_status", "error_code", "delivered_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=MessageStatus.choices, allow_null=True))
    def get_status(self, event: ProviderEvent) -> str | None:
        return PROVIDER_STATUS.get(event.status)


class MessageSerializer(TenantModelSerializer):
    """A text to or from a contact, with its status history (oldest report first)."""

    history = StatusReportSerializer(many=True, source="events", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "reference",
            "kind",
            "status",
            "campaign",
            "contact",
            "to_phone",
            "from_sender",
            "body",
            "encoding",
            "segments",
            "error_code",
            "error_message",
            "cost_cents",
            "provider_price_cents",
            "intent",
            "created_at",
            "handed_off_at",
            "status_at",
            "delivered_at",
            "history",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reference": {"help_text": "Our id of the message, unique across all businesses."},
            "campaign": {"help_text": "Outbound: its campaign. Inbound: the campaign it is attributed to."},
            "to_phone": {"help_text": "E.164 number (inbound: your sender)."},
            "from_sender": {"help_text": "Your sender (a number or sender ID); inbound: the contact's number."},
            "intent": {"help_text": "Inbound: what the text asked for (opt_out, opt_in, help, reply); else empty."},
            "status_at": {"help_text": "When the status last changed."},
        }


EXAMPLE_MESSAGE = {
    "id": 90211,
    "reference": "5b0f3c1e-8d4a-4a51-9a57-2f1f2b8c9e10",
    "kind": "campaign",
    "status": "delivered",
    "campaign": 42,
    "contact": 3107,
    "to_phone": "+61412345678",
    "from_sender": "AcmeBakery",
    "body": "Acme Bakery: Hi Sam, 20% off all bread today https://acme.sm/k3Xp9q Reply STOP to opt out",
    "encoding": "GSM-7",
    "segments": 1,
    "error_code": "",
    "error_message": "",
    "cost_cents": 5,
    "provider_price_cents": 5,
    "intent": "",
    "created_at": "2026-11-21T09:00:01+11:00",
    "handed_off_at": "2026-11-21T09:00:02+11:00",
    "status_at": "2026-11-21T09:00:09+11:00",
    "delivered_at": "2026-11-21T09:00:00+11:00",
    "history": [
        {
            "at": "2026-11-21T09:00:03+11:00",
            "status": "sent",
            "provider_status": "sent",
            "error_code": "",
            "delivered_at": None,
        },
        {
            "at": "2026-11-21T09:00:09+11:00",
            "status": "delivered",
            "provider_status": "delivered",
            "error_code": "",
            "delivered_at": "2026-11-21T09:00:00+11:00",
        },
    ],  # fmt: skip
}


@extend_schema_view(
    list=extend_schema(
        summary="List messages",
        description="Newest first, cursor-paginated, each with its status history.",
        parameters=[
            OpenApiParameter(
                "campaign", int, description="Only this campaign's messages (and texts attributed to it)."
            ),
            OpenApiParameter("contact", int, description="Only messages to or from this contact."),
            OpenApiParameter("status", str, enum=MessageStatus.values, description="Only messages in this status."),
            OpenApiParameter(
                "kind", str, enum=MessageKind.values, description="campaign, reply (automatic) or inbound."
            ),
            OpenApiParameter("since", str, description=f"Only messages created at or after this. {MOMENT_HELP}"),
        ],
        examples=[OpenApiExample("A delivered campaign message", value=EXAMPLE_MESSAGE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Read a message",
        description="With its status history: each report the provider sent, oldest first.",
        examples=[OpenApiExample("A delivered campaign message", value=EXAMPLE_MESSAGE, response_only=True)],
    ),
)
class MessageViewSet(TenantScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """A business's messages: every key may read them."""

    queryset = Message.objects.all()
    serializer_class = MessageSerializer

    def get_queryset(self):
        # The history in one query per page, never one per message.
        reports = self.scoped(ProviderEvent).filter(kind=EventKind.STATUS).order_by("received_at", "id")
        return super().get_queryset().prefetch_related(Prefetch("events", queryset=reports))

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        filters = read_filters(
            self.request.query_params,
            {
                "campaign": object_id,
                "contact": object_id,
                "status": one_of(MessageStatus.values),
                "kind": one_of(MessageKind.values),
                "since": moment(self.tenant.zone),
            },
        )
        lookups = {"campaign": "campaign_id", "contact": "contact_id", "status": "status", "kind": "kind"}
        queryset = queryset.filter(**{lookups[name]: filters[name] for name in lookups if name in filters})
        if "since" in filters:
            queryset = queryset.filter(created_at__gte=filters["since"])
        return queryset
