"""Base pieces every app's API views use: tenant scoping and the actor, as the pages'
``TenantScopedMixin`` gives them. Views never write ``tenant=`` filters themselves."""

from django.shortcuts import get_object_or_404

from tenants.api.idempotency import idempotent


class TenantScopedAPIMixin:
    """``self.tenant``, ``self.actor``; ``self.scoped(Model_or_queryset)`` for the tenant's rows,
    ``self.get_scoped_or_404(...)`` for one of them (another tenant's row is a 404, exactly as a
    missing one); ``get_queryset`` scoped to the tenant."""

    tenant_field = "tenant"

    @property
    def tenant(self):
        return self.request._request.tenant

    @property
    def actor(self):
        user = self.request.user
        return user if user is not None and user.is_authenticated else None

    def scoped(self, model_or_queryset):
        queryset = (
            model_or_queryset._default_manager.all() if isinstance(model_or_queryset, type) else model_or_queryset
        )
        return queryset.filter(**{self.tenant_field: self.tenant})

    def get_scoped_or_404(self, model_or_queryset, **lookup):
        return get_object_or_404(self.scoped(model_or_queryset), **lookup)

    def get_queryset(self):
        return self.scoped(super().get_queryset())


class IdempotentCreateMixin:
    """``create`` honours the ``Idempotency-Key`` header."""

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)
