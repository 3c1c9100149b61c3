"""Reads about tenants, memberships and the audit log."""

from django.db.models import QuerySet

from smscrm.edge import db_id
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


# The kinds of event the activity log filters by: the part of the action name before the dot.
ACTIVITY_KINDS = (
    ("contact", "Contacts"),
    ("consent", "Consent"),
    ("dnc", "Do-not-contact list"),
    ("import", "Imports"),
    ("export", "Exports"),
    ("template", "Message templates"),
    ("campaign", "Campaigns"),
    ("inbound", "Replies"),
    ("messaging", "Sending numbers and prices"),
    ("tenant", "Business settings"),
    ("webhook", "Webhooks"),
    ("membership", "Members"),
    ("auth", "Sign-ins"),
)
# ``person`` for events nobody signed in caused (a reply, a task).
SYSTEM_PERSON = "system"


def audit_events_for(*, tenant: Tenant, kind: str = "", person: str = "") -> QuerySet[AuditEvent]:
    """The tenant's audit events, newest first, optionally of one kind and by one person.

    ``person`` is a member's user id or ``SYSTEM_PERSON``; anything else (another tenant's
    user, a mangled value) matches nothing rather than everything. An unknown kind is ignored.
    """
    events = AuditEvent.objects.filter(tenant=tenant).select_related("actor")
    if kind in dict(ACTIVITY_KINDS):
        events = events.filter(action__startswith=f"{kind}.")
    if person == SYSTEM_PERSON:
        events = events.filter(actor__isnull=True)
    elif person:
        user_id = db_id(person)
        member = user_id is not None and Membership.objects.filter(tenant=tenant, user_id=user_id).exists()
        events = events.filter(actor_id=user_id) if member else events.none()
    return events


def members_of(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")
