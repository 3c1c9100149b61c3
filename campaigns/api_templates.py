"""/api/v1/templates/: message templates, through the template pages' services and selectors.

Reading is every role's; writing needs ``Perm.CAMPAIGNS_DRAFT`` (staff and up), as on the pages.
``template_save`` keeps the rules (unknown placeholders, 1,600 characters, unique names, a
launched campaign's template is fixed); ``template_delete`` refuses a template a campaign uses.
A refusal about the template's state (launched, in use) is a 409; one about the request a 400.

Previews are the template page's (``selectors.variant_previews``): each variant as recipients
see it (sample values, the business name and the opt-out line added where missing, links
shortened), its encoding and segments, typical and at the longest names on file.
``GET templates/{id}/preview/`` previews a saved template, ``POST templates/preview/`` bodies not
saved yet (nothing is written).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.forms import MAX_VARIANTS
from campaigns.models import Template
from tenants.api.errors import Conflict
from tenants.api.idempotency import idempotent
from tenants.api.views import TenantScopedAPIMixin
from tenants.roles import Perm

BODY_MAX_CHARS = 1600
NAME_FILTER_MAX_CHARS = 120
# Refusals of the services that are about the template's state, not the request.
STATE_CODES = (services.TEMPLATE_LOCKED, services.TEMPLATE_IN_USE)


class TemplateSerializer(serializers.ModelSerializer):
    """A template as the API shows it: its variants are the bodies, in order."""

    variants = serializers.SerializerMethodField(help_text="The variant bodies, in the order campaigns rotate them.")
    locked = serializers.BooleanField(
        read_only=True, help_text="A launched campaign uses it: its text can no longer change."
    )
    campaign_count = serializers.IntegerField(read_only=True, help_text="Campaigns (drafts too) that use it.")

    class Meta:
        model = Template
        fields = ["id", "name", "variants", "locked", "campaign_count", "created_at", "updated_at"]

    def get_variants(self, template) -> list[str]:
        return [variant.body for variant in template.variants.all()]


class TemplateWriteSerializer(serializers.Serializer):
    """What a template is written from: a name and one to five bodies."""

    name = serializers.CharField(max_length=120)
    variants = serializers.ListField(
        child=serializers.CharField(max_length=BODY_MAX_CHARS, trim_whitespace=False),
        min_length=1,
        max_length=MAX_VARIANTS,
        help_text="One to five bodies. Placeholders: {{ first_name }}, {{ last_name }}, {{ business_name }}, "
        "{{ link }} and the business's custom fields, with an optional fallback: {{ first_name|there }}.",
    )


class TemplatePreviewRequestSerializer(serializers.Serializer):
    """Bodies to preview without saving them."""

    variants = serializers.ListField(
        child=serializers.CharField(max_length=BODY_MAX_CHARS, trim_whitespace=False),
        min_length=1,
        max_length=MAX_VARIANTS,
    )


class TemplateSegmentsSerializer(serializers.Serializer):
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    segments = serializers.IntegerField()
    units = serializers.IntegerField(help_text="GSM-7 septets (extension characters count 2) or UTF-16 units.")


class TemplateNonGsmSerializer(serializers.Serializer):
    character = serializers.CharField()
    name = serializers.CharField(help_text="Its Unicode name.")


class TemplateVariantPreviewSerializer(serializers.Serializer):
    """One variant as recipients see it (``errors`` instead when it cannot be rendered)."""

    number = serializers.IntegerField(help_text="1 for the first variant.")
    body = serializers.CharField(help_text="As written.")
    text = serializers.CharField(
        allow_null=True, help_text="As sent to a typical recipient: sample values, business name and opt-out line."
    )
    encoding = serializers.CharField(allow_null=True, help_text="GSM-7 or UCS-2.")
    segments = serializers.IntegerField(allow_null=True, help_text="Segments (billed messages) typically.")
    units = serializers.IntegerField(allow_null=True)
    worst = TemplateSegmentsSerializer(allow_null=True, help_text="At the longest names among the business's contacts.")
    non_gsm = TemplateNonGsmSerializer(many=True, help_text="The characters that force UCS-2.")
    gsm_replaceable = serializers.BooleanField(help_text="Look-alike characters could be swapped for GSM-7 ones.")
    errors = serializers.ListField(child=serializers.CharField(), help_text="Why it cannot be rendered; [] when fine.")

    def to_representation(self, preview) -> dict:
        typical, worst = preview.typical, preview.worst
        return {
            "number": preview.number,
            "body": preview.body,
            "text": preview.preview if typical else None,
            "encoding": typical.encoding if typical else None,
            "segments": typical.segments if typical else None,
            "units": typical.units if typical else None,
            "worst": {"encoding": worst.encoding, "segments": worst.segments, "units": worst.units} if worst else None,
            "non_gsm": [{"character": char, "name": name} for char, name in preview.non_gsm],
            "gsm_replaceable": preview.replaceable,
            "errors": list(preview.errors),
        }


class TemplatePreviewSerializer(serializers.Serializer):
    variants = TemplateVariantPreviewSerializer(many=True)


def _service_errors(exc: ValidationError):
    """A service's refusal in the API's words: a state refusal is a 409, a problem with a body a
    400 naming ``variants`` (the service says which: "Variant 2: …"), a field's a 400 naming it."""
    if getattr(exc, "code", None) in STATE_CODES:
        return Conflict(exc.messages[0])
    if hasattr(exc, "error_dict"):
        return exc
    return serializers.ValidationError({"variants": exc.messages})


def _filters(params) -> dict:
    """``name`` (part of it, any case) and ``locked`` (true/false); a bad value is a 400 naming it."""
    name = params.get("name", "")
    if len(name) > NAME_FILTER_MAX_CHARS:
        raise serializers.ValidationError({"name": [f"At most {NAME_FILTER_MAX_CHARS} characters."]})
    locked = params.get("locked")
    if locked not in (None, "true", "false"):
        raise serializers.ValidationError({"locked": ["Use true or false."]})
    return {"name": name.strip(), "locked": None if locked is None else locked == "true"}


HELLO = "Hi {{ first_name|there }}, fresh sourdough is out of the oven. {{ link }}"
TEMPLATE_EXAMPLE = OpenApiExample(
    "A template",
    value={
        "id": 12,
        "name": "Sourdough Saturday",
        "variants": [HELLO, "{{ first_name|Hello }}! Sourdough is back today only. {{ link }}"],
        "locked": False,
        "campaign_count": 0,
        "created_at": "2026-03-14T09:30:00+11:00",
        "updated_at": "2026-03-14T09:30:00+11:00",
    },
    response_only=True,
)
WRITE_EXAMPLE = OpenApiExample(
    "Two variants",
    value={"name": "Sourdough Saturday", "variants": [HELLO, "{{ first_name|Hello }}! Sourdough is back. {{ link }}"]},
    request_only=True,
)
PREVIEW_EXAMPLE = OpenApiExample(
    "A preview",
    value={
        "variants": [
            {
                "number": 1,
                "body": HELLO,
                "text": "Acme Bakery: Hi Sam, fresh sourdough is out of the oven. https://acme.sms.example/s/xxxxxx\n"
                "Reply STOP to opt out",
                "encoding": "GSM-7",
                "segments": 1,
                "units": 113,
                "worst": {"encoding": "GSM-7", "segments": 1, "units": 133},
                "non_gsm": [],
                "gsm_replaceable": False,
                "errors": [],
            }
        ]
    },
    response_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List templates",
        parameters=[
            OpenApiParameter("name", str, description="Templates whose name contains this (any case)."),
            OpenApiParameter("locked", bool, description="true: used by a launched campaign; false: still editable."),
        ],
        examples=[TEMPLATE_EXAMPLE],
    ),
    retrieve=extend_schema(summary="Read a template", examples=[TEMPLATE_EXAMPLE]),
    create=extend_schema(
        summary="Create a template",
        request=TemplateWriteSerializer,
        responses={201: TemplateSerializer},
        examples=[WRITE_EXAMPLE, TEMPLATE_EXAMPLE],
    ),
    update=extend_schema(
        summary="Replace a template's name and variants",
        description="Refused with 409 once a launched campaign uses the template.",
        request=TemplateWriteSerializer,
        responses={200: TemplateSerializer},
        examples=[WRITE_EXAMPLE, TEMPLATE_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change a template's name or variants",
        request=TemplateWriteSerializer(partial=True),
        responses={200: TemplateSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a template",
        description="Refused with 409 while any campaign, a draft too, uses it.",
        responses={204: None},
    ),
)
class TemplateViewSet(
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Message templates of the key's business, with previews as recipients see them."""

    serializer_class = TemplateSerializer
    queryset = Template.objects.all()
    action_permissions = {
        "list": Perm.VIEW,
        "retrieve": Perm.VIEW,
        "preview": Perm.VIEW,
        "preview_unsaved": Perm.VIEW,  # writes nothing: what the editor shows as one types
        "create": Perm.CAMPAIGNS_DRAFT,
        "update": Perm.CAMPAIGNS_DRAFT,
        "partial_update": Perm.CAMPAIGNS_DRAFT,
        "destroy": Perm.CAMPAIGNS_DRAFT,
    }

    def get_queryset(self):
        queryset = selectors.templates_for(tenant=self.tenant)
        if self.action == "list":
            filters = _filters(self.request.query_params)
            if filters["name"]:
                queryset = queryset.filter(name__icontains=filters["name"])
            if filters["locked"] is not None:
                queryset = queryset.filter(locked=filters["locked"])
        return queryset

    def _read(self, template: Template) -> dict:
        return TemplateSerializer(self.get_queryset().get(pk=template.pk)).data

    @idempotent
    def create(self, request, *args, **kwargs):
        data = self._valid(TemplateWriteSerializer(data=request.data))
        template = self._save(name=data["name"], bodies=data["variants"])
        return Response(self._read(template), status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        template = self.get_object()
        partial = kwargs.get("partial", False)
        data = self._valid(TemplateWriteSerializer(data=request.data, partial=partial))
        bodies = data.get("variants") or [variant.body for variant in template.variants.all()]
        self._save(name=data.get("name", template.name), bodies=bodies, template=template)
        return Response(self._read(template))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args, **kwargs):
        template = self.get_object()
        try:
            services.template_delete(template=template, actor=self.actor)
        except ValidationError as exc:
            raise _service_errors(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Preview a saved template",
        description="Each variant as recipients see it, with its encoding and segments.",
        responses={200: TemplatePreviewSerializer},
        examples=[PREVIEW_EXAMPLE],
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        template = self.get_object()
        bodies = [variant.body for variant in template.variants.all()]
        return Response(self._previews(bodies))

    @extend_schema(
        summary="Preview bodies not saved yet",
        description="The same preview for bodies being written; nothing is saved. A body that cannot be "
        "rendered (an unknown placeholder, say) comes back with its `errors`.",
        request=TemplatePreviewRequestSerializer,
        responses={200: TemplatePreviewSerializer},
        examples=[OpenApiExample("Bodies", value={"variants": [HELLO]}, request_only=True), PREVIEW_EXAMPLE],
    )
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_unsaved(self, request):
        data = self._valid(TemplatePreviewRequestSerializer(data=request.data))
        return Response(self._previews(data["variants"]))

    def _previews(self, bodies: list[str]) -> dict:
        previews = selectors.variant_previews(tenant=self.tenant, bodies=bodies)
        return TemplatePreviewSerializer({"variants": previews}).data

    @staticmethod
    def _valid(serializer) -> dict:
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _save(self, **kwargs) -> Template:
        try:
            return services.template_save(tenant=self.tenant, actor=self.actor, **kwargs)
        except ValidationError as exc:
            raise _service_errors(exc) from None
