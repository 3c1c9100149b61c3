"""Serializer fields every app's API shares."""

from django.db import models
from rest_framework import serializers


class TenantDateTimeField(serializers.DateTimeField):
    """ISO 8601 in the tenant's zone, offset included (``2026-12-01T09:00:00+11:00``). A time
    sent without an offset is read in that zone, as the tenant's pages read the times typed."""

    def default_timezone(self):
        request = self.context.get("request")
        tenant = getattr(getattr(request, "_request", request), "tenant", None)
        return tenant.zone if tenant is not None else super().default_timezone()


class TenantModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose date-times are the tenant's (``TenantDateTimeField``)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: TenantDateTimeField,
    }
