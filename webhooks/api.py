"""``webhooks/`` in the REST API: list, create, read and delete subscriptions (admins).

The viewset is exported for the API's router (``WebhookSubscriptionViewSet``); creating answers
201 with the subscription and its ``secret`` (``whsec_…``), the only time the secret is shown.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from tenants.api import TenantRolePermission, TenantScopedAPIMixin
from tenants.api.idempotency import idempotent
from tenants.roles import Perm
from webhooks import services
from webhooks.addresses import MAX_URL_LENGTH, target_check
from webhooks.models import EventType, WebhookSubscription


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, max_length=len(EventType.values)
    )

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "is_active", "disabled_at", "disabled_reason", "failing_since", "created_at"]
        read_only_fields = ["id", "is_active", "disabled_at", "disabled_reason", "failing_since", "created_at"]

    def validate_url(self, value: str) -> str:
        value = value.strip()
        try:
            target_check(value)  # the same check as the settings page's form
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class WebhookSubscriptionViewSet(
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = WebhookSubscription.objects.all()
    serializer_class = WebhookSubscriptionSerializer
    permission_classes = [TenantRolePermission]
    read_permission = write_permission = Perm.SETTINGS_MANAGE

    @idempotent(unkept=("secret",))
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            subscription, secret = services.webhook_subscription_create(
                tenant=self.tenant, actor=self.actor, **serializer.validated_data
            )
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise serializers.ValidationError(detail) from None
        return Response({**self.get_serializer(subscription).data, "secret": secret}, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        services.webhook_subscription_delete(subscription=instance, actor=self.actor)
