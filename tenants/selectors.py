"""Reads about tenants, memberships and the audit log."""

from django.db.models import QuerySet

from tenants.models import AuditEvent, Membership, Tenant


def memberships_of(*, user) -> QuerySet[Membership]:
    """The user's memberships, their tenants joined in, in a stable order."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name", "tenant_id")


def choose_membership(memberships: list[Membership], *, tenant_id: int | None) -> Membership | None:
    """The membership in ``tenant_id``, or the first one when ``tenant_id`` is not among them."""
    for membership in memberships:
        if membership.tenant_id == tenant_id:
            return membership
    return memberships[0] if memberships else None


def audit_events_for(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(tenant=tenant).select_related("actor")


def members_of(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")
