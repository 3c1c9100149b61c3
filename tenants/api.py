"""REST framework pieces shared by every app's API: the role permission and tenant scoping."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from tenants.roles import Perm, role_allows


class TenantRolePermission(BasePermission):
    """Needs a membership; reads need ``view.read_permission`` (default VIEW), writes
    ``view.write_permission`` (default: refused, so a write endpoint must name its role)."""

    message = "Your role may not do this."

    def has_permission(self, request, view) -> bool:
        membership = getattr(request._request, "membership", None)
        if membership is None:
            return False
        if request.method in SAFE_METHODS:
            perm = getattr(view, "read_permission", Perm.VIEW)
        else:
            perm = getattr(view, "write_permission", None)
        return perm is not None and role_allows(membership.role, perm)


class TenantScopedAPIMixin:
    """Filters the view's queryset by the request's tenant, so other tenants' rows are 404."""

    tenant_field = "tenant"

    def get_queryset(self):
        return super().get_queryset().filter(**{self.tenant_field: self.request._request.tenant})
