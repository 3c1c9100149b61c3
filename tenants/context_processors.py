from tenants.roles import Perm, role_allows


class _Can:
    """Template helper: ``{% if can.campaigns_launch %}`` asks the permission matrix."""

    def __init__(self, role):
        self._role = role

    def __getattr__(self, name):
        perm = getattr(Perm, name.upper(), None)
        return perm is not None and role_allows(self._role, perm)


def tenancy(request):
    membership = getattr(request, "membership", None)
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": membership,
        "all_memberships": getattr(request, "memberships", []),
        "can": _Can(membership.role if membership else None),
    }
