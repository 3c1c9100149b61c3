"""The API's role check: the permission matrix of ``tenants.roles``, per action."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from tenants.roles import Perm, role_allows


def required_permission(request, view) -> str | None:
    """What ``view`` needs for this request: ``action_permissions[view.action]`` when named, else
    ``read_permission`` (default VIEW) for reads and ``write_permission`` (default: none, so a
    write endpoint must name its role) for writes."""
    action = getattr(view, "action", None)
    per_action = getattr(view, "action_permissions", {})
    if action in per_action:
        return per_action[action]
    if request.method in SAFE_METHODS:
        return getattr(view, "read_permission", Perm.VIEW)
    return getattr(view, "write_permission", None)


class TenantRolePermission(BasePermission):
    """Needs a membership (a signed-in member, or an API key, which carries its own role) that
    holds the permission the view names for this request."""

    message = "Your role may not do this."

    def has_permission(self, request, view) -> bool:
        membership = getattr(request._request, "membership", None)
        if membership is None:
            return False
        if not hasattr(view, request.method.lower()):
            return True  # a method this route does not have: REST framework answers 405
        perm = required_permission(request, view)
        if perm is not None and not role_allows(membership.role, perm):
            self.message = f"Your role ({membership.role}) may not do this."
            return False
        return perm is not None
