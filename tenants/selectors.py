"""Reads about tenants, memberships and the audit log."""

from django.db.models import QuerySet

from tenants.models import AuditEvent, Invitation, Membership, Tenant


def memberships_of(*, user) -> QuerySet[Membership]:
    """The user's memberships, their tenants joined in, in a stable order."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name", "tenant_id")


def default_membership(memberships: list[Membership]) -> Membership | None:
    """Where a sign-in lands: the business last worked in, else the only one, else None (ask)."""
    used = [m for m in memberships if m.last_used_at is not None]
    if used:
        return max(used, key=lambda m: m.last_used_at)
    return memberships[0] if len(memberships) == 1 else None


def choose_membership(memberships: list[Membership], *, tenant_id: int | None) -> Membership | None:
    """The membership in the session's ``tenant_id``; else the default one (None: ask)."""
    for membership in memberships:
        if membership.tenant_id == tenant_id:
            return membership
    return default_membership(memberships)


def open_invitations(*, tenant: Tenant, now) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        tenant=tenant, accepted_at=None, declined_at=None, revoked_at=None, expires_at__gt=now
    ).select_related("invited_by")


def audit_events_for(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(tenant=tenant).select_related("actor")


def members_of(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")
