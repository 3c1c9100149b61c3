"""Sets ``request.tenant`` and ``request.membership`` from the user's chosen membership."""

from django.utils import timezone

from smscrm.logging import tenant_id as log_tenant_id
from tenants.acting import acting_api_key
from tenants.selectors import choose_membership, memberships_of

SESSION_KEY = "tenant_id"


class TenantMiddleware:
    """The tenant is the one the user last chose in the switcher (kept in the session), or
    their first membership. Both are None for anonymous users and users with no membership;
    views go through ``tenants.mixins``, which turn that into a 403. Anonymous requests
    (e.g. /health) cost no query here. ``request.memberships`` feeds the tenant switcher.

    The tenant's time zone is activated for the request, so dates people type in forms are
    read, and dates on pages shown, in the business's own time (stored in UTC throughout).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.memberships = []
        request.membership = None
        request.tenant = None
        if request.user.is_authenticated:
            request.memberships = list(memberships_of(user=request.user))
            request.membership = choose_membership(request.memberships, tenant_id=request.session.get(SESSION_KEY))
            request.tenant = request.membership.tenant if request.membership else None
        if request.tenant is not None:
            timezone.activate(request.tenant.zone)
            log_tenant_id.set(request.tenant.id)  # on this request's log lines (smscrm.logging)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
            acting_api_key.set(None)  # an API key acts for one request only
