"""Base view mixins: every tenant-owned page goes through these. One place to audit.

``TenantScopedMixin`` requires a login and a membership, checks the role against the
permission matrix (403 when refused) and is the one place a page's rows are scoped to
``request.tenant``: ``self.scoped(Model_or_queryset)`` for the tenant's rows and
``self.get_scoped_or_404(Model_or_queryset, **lookup)`` for one of them, so another tenant's
object is a 404, exactly like one that does not exist. Views never write a ``tenant=`` filter
or call ``get_object_or_404`` themselves (smscrm/tests/test_view_scoping.py checks); they pass
the tenant to selectors, which take it as their first argument.
"""

from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from tenants.roles import Perm, role_allows


def require_perm(request, perm: str) -> None:
    """Raise PermissionDenied unless the request's membership holds ``perm``."""
    membership = getattr(request, "membership", None)
    if membership is None:
        raise PermissionDenied("You are not a member of any business yet.")
    if not role_allows(membership.role, perm):
        raise PermissionDenied(f"Your role ({membership.role}) may not do this.")


def redirect_to_chooser(request):
    """To the "which business?" page, coming back to this one afterwards."""
    return redirect(f"{reverse('tenants:choose')}?{urlencode({'next': request.get_full_path()})}")


class TenantScopedMixin(LoginRequiredMixin):
    """Login + membership + role check; querysets scoped to the current tenant.

    Set ``permission`` (a ``tenants.roles.Perm``) per view; for views whose GET and POST need
    different roles set ``post_permission`` as well.
    """

    permission: str = Perm.VIEW
    post_permission: str | None = None
    tenant_field = "tenant"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.membership is None and request.memberships:
            # Several businesses and none chosen yet: ask which, then come back.
            return redirect_to_chooser(request)
        perm = self.permission
        if request.method not in ("GET", "HEAD", "OPTIONS") and self.post_permission:
            perm = self.post_permission
        require_perm(request, perm)
        return super().dispatch(request, *args, **kwargs)

    def scoped(self, model_or_queryset):
        """The rows of ``model_or_queryset`` that belong to the request's tenant."""
        queryset = (
            model_or_queryset._default_manager.all() if isinstance(model_or_queryset, type) else model_or_queryset
        )
        return queryset.filter(**{self.tenant_field: self.request.tenant})

    def get_scoped_or_404(self, model_or_queryset, **lookup):
        """The one row of the request's tenant matching ``lookup``, or 404 (another tenant's row
        answers exactly as a missing one: Http404, never a hint that it exists)."""
        return get_object_or_404(self.scoped(model_or_queryset), **lookup)

    def get_queryset(self):
        queryset = super().get_queryset()
        if queryset is None:
            raise ImproperlyConfigured(f"{type(self).__name__} needs a model or queryset.")
        return self.scoped(queryset)
