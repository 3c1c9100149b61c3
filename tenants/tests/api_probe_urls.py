"""A small API used only by the foundation's tests: reads and writes audit events of the key's
tenant through the same plumbing (auth, roles, scoping, errors, idempotency) every app uses."""

from django.core.exceptions import ValidationError
from django.urls import include, path
from rest_framework import mixins, serializers, viewsets
from rest_framework.routers import SimpleRouter

from tenants.api import IdempotentCreateMixin, TenantScopedAPIMixin
from tenants.models import AuditEvent
from tenants.roles import Perm
from tenants.services import audit_record


class ProbeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "action", "target"]
        read_only_fields = ["id", "action"]


class ProbeViewSet(TenantScopedAPIMixin, IdempotentCreateMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = ProbeSerializer
    action_permissions = {"list": Perm.VIEW, "retrieve": Perm.VIEW, "create": Perm.CONTACTS_EDIT}

    def perform_create(self, serializer):
        target = serializer.validated_data.get("target", "")
        if target == "refuse":
            raise ValidationError({"target": "The service refuses this target."})
        serializer.instance = audit_record(tenant=self.tenant, actor=self.actor, action="probe.created", target=target)


router = SimpleRouter()
router.register("probes", ProbeViewSet, basename="probe")
urlpatterns = [path("api/v1/", include(router.urls)), path("", include("smscrm.urls"))]
# The real API's catch-all answers the probe's unmatched paths (ids that are not numbers).
