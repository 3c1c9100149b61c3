"""Every write about tenants, logins and the audit log; a business's members and invitations
are tenants.memberships.

Views, the admin, commands and tasks all call these; none writes the models itself.
``TenantAction``, ``acting_user`` and ``audit_record`` are every app's: imported from here.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from sesame.utils import get_query_string

from tenants import killswitch
from tenants.acting import acting_api_key
from tenants.middleware import SESSION_KEY
from tenants.models import AuditEvent, Membership, Tenant
from tenants.roles import Role
from tenants.selectors import default_membership, memberships_of

User = get_user_model()


class TenantAction:
    """Audit action names, one vocabulary for the whole product."""

    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    TENANT_PAUSED = "tenant.paused"
    TENANT_RESUMED = "tenant.resumed"
    TENANT_SETTINGS_CHANGED = "tenant.settings_changed"
    BUDGET_CHANGED = "tenant.budget_changed"
    MEMBER_ADDED = "membership.added"
    MEMBER_ROLE_CHANGED = "membership.role_changed"
    MEMBER_REMOVED = "membership.removed"
    MEMBER_INVITED = "membership.invited"
    INVITATION_REVOKED = "membership.invitation_revoked"
    INVITATION_DECLINED = "membership.invitation_declined"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"


def acting_user(actor):
    """The user to record as having done something, or None: for the system (no actor) and for a
    request nobody is signed in to (AnonymousUser cannot be stored)."""
    return actor if actor is not None and actor.is_authenticated else None


def audit_record(
    *, tenant: Tenant | None, actor=None, action: str, target: str = "", data: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event to the audit log. Done through an API key, the event names the key (its
    name and public prefix) beside the person who made it, who may be nobody (``manage.py``)."""
    data = dict(data or {})
    via = acting_api_key.get()
    if via is not None:
        data.setdefault("api_key", via)
    return AuditEvent.objects.create(
        tenant=tenant,
        actor=acting_user(actor),
        action=action,
        target=target[:200],
        data=data,
    )


# --- Users and login -------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def user_get_or_create(*, email: str):
    """The user with this e-mail (case-insensitive), created without a password if new.

    Staff never have passwords: the magic link is the only way in.
    """
    email = normalize_email(email)
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is None:
        user = User(username=email, email=email)
        user.set_unusable_password()
        user.save()
    return user


def login_link_build(*, user) -> str:
    """An absolute, single-use magic link for ``user``, valid SESAME_MAX_AGE seconds."""
    return settings.PUBLIC_BASE_URL + reverse("tenants:login_confirm") + get_query_string(user)


def login_link_send(*, email: str) -> bool:
    """E-mail a magic link to the active user with this address; False when there is none.

    Callers answer the same whatever this returns, so nobody learns who has an account.
    """
    user = User.objects.filter(email__iexact=normalize_email(email), is_active=True).order_by("pk").first()
    if user is None:
        return False
    minutes = settings.SESAME_MAX_AGE // 60
    send_mail(
        subject="Your sign-in link",
        message=(
            f"Hello,\n\nUse this link to sign in. It works once, for the next {minutes} minutes:\n\n"
            f"{login_link_build(user=user)}\n\n"
            "If you did not ask for it, ignore this e-mail: nobody can sign in without the link."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return True


def login_complete(*, request, token: str):
    """Log in with a magic-link token; return the user, or None when the token is not valid.

    The user's row is locked while the token is checked and ``last_login`` moves on, so two
    simultaneous uses of one link cannot both succeed (single use holds under races). The
    session starts in the business the user last worked in (else their only one; with several
    and none used yet, the pages ask), and the sign-in is recorded in that business's activity
    only: the other businesses the user belongs to learn nothing of it.
    """
    candidate = authenticate(request, sesame=token)
    if candidate is None:
        return None
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=candidate.pk).get()
        user = authenticate(request, sesame=token)  # re-checked under the lock
        if user is None or not user.is_active:
            return None
        login(request, user)  # updates last_login, which invalidates every outstanding link
        _begin_session(request=request, user=user)
    return user


def _begin_session(*, request, user) -> Membership | None:
    """Put the user's default business in the session and record the sign-in there."""
    membership = default_membership(list(memberships_of(user=user)))
    if membership is not None:
        request.session[SESSION_KEY] = membership.tenant_id
        Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())
    else:
        request.session.pop(SESSION_KEY, None)
    audit_record(
        tenant=membership.tenant if membership else None, actor=user, action=TenantAction.LOGIN, target=user.email
    )
    return membership


def logout_complete(*, request) -> None:
    """Log the user out, recording it in the business they were working in."""
    if request.user.is_authenticated:
        tenant = getattr(request, "tenant", None)
        audit_record(tenant=tenant, actor=request.user, action=TenantAction.LOGOUT, target=request.user.email)
    logout(request)


def tenant_choose(*, request, tenant_id: int) -> Membership:
    """Work in another of the user's businesses from now on (and sign in there next time).

    Raises Membership.DoesNotExist when the user is not a member: callers answer 404, exactly as
    for a business that does not exist.
    """
    membership = Membership.objects.select_related("tenant").get(user=request.user, tenant_id=tenant_id)
    request.session[SESSION_KEY] = membership.tenant_id
    Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())
    return membership


# --- Tenant settings and the kill switch ---------------------------------------------------


def tenant_create(*, name: str, slug: str, business_name: str, owner_email: str, **fields) -> Tenant:
    """Create a tenant with its first owner."""
    with transaction.atomic():
        tenant = Tenant(name=name, slug=slug, business_name=business_name, **fields)
        tenant.full_clean()
        tenant.save()
        owner = user_get_or_create(email=owner_email)
        Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)
        audit_record(
            tenant=tenant, actor=None, action=TenantAction.MEMBER_ADDED, target=owner.email, data={"role": Role.OWNER}
        )
    return tenant


def tenant_set_paused(*, tenant: Tenant, actor, paused: bool, reason: str = "", origin: str = "") -> Tenant:
    """Turn the kill switch on or off. Takes effect at commit; a no-op change is not audited.

    Pausing waits for the hand-off chunks under way (tenants.killswitch): no provider call
    starts after it commits. ``origin`` (audited) names who other than a member did it, e.g.
    the operators' emergency stop, which lifts only the pauses it made."""
    with transaction.atomic():
        if paused:
            killswitch.hold_for_pause(tenant.pk)
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.is_paused != paused:
            locked.is_paused = paused
            locked.save(update_fields=["is_paused"])
            audit_record(
                tenant=locked,
                actor=actor,
                action=TenantAction.TENANT_PAUSED if paused else TenantAction.TENANT_RESUMED,
                target=locked.name,
                data={key: value for key, value in (("reason", reason), ("origin", origin)) if value},
            )
    tenant.is_paused = paused
    return locked


BUDGET_FIELDS = ("daily_budget_cents", "monthly_budget_cents")
# What a business's admins may change (the settings page, the admin, the API).
SETTINGS_FIELDS = (
    "name",
    "business_name",
    "timezone",
    "suppression_days",
    "quiet_hours_start",
    "quiet_hours_end",
    *BUDGET_FIELDS,
    "opt_out_line",
    "contact_details",
    "opt_out_reply",
    "opt_in_reply",
    "help_reply",
    "opt_out_phrases",
    "short_domain",
    "link_ttl_days",
)
# What only the platform's operators change: the slug names the tenant in commands and URLs,
# and the sending rate is bounded by the provider account the operator arranged.
OPERATOR_FIELDS = ("slug", "messages_per_second")


def _may_change_operator_fields(actor) -> bool:
    """Operators: a superuser, or no actor at all (a management command run on the server)."""
    return actor is None or (actor.is_authenticated and actor.is_superuser)


def tenant_update_settings(*, tenant: Tenant, actor, **changes) -> Tenant:
    """Change tenant settings, validated as a whole and audited (budget changes apart).

    Every way of changing a tenant (settings page, Django admin, API, commands) comes here.
    Raises ValidationError (nothing written) when the result would be invalid, and
    PermissionDenied when a business's user tries to change an operator's field.
    """
    unknown = set(changes) - set(SETTINGS_FIELDS) - set(OPERATOR_FIELDS)
    if unknown:
        raise ValueError(f"Not a tenant setting: {', '.join(sorted(unknown))}")
    operator = set(changes) & set(OPERATOR_FIELDS)
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if any(changes[f] != getattr(locked, f) for f in operator) and not _may_change_operator_fields(actor):
            raise PermissionDenied(f"Only the platform's operators may change {', '.join(sorted(operator))}.")
        before = {field: getattr(locked, field) for field in changes}
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.full_clean()
        changed = {f: {"from": before[f], "to": getattr(locked, f)} for f in changes if before[f] != getattr(locked, f)}
        if not changed:
            return locked
        locked.save(update_fields=list(changed))
        budget = {f: v for f, v in changed.items() if f in BUDGET_FIELDS}
        other = {f: v for f, v in changed.items() if f not in BUDGET_FIELDS}
        if budget:
            audit_record(
                tenant=locked, actor=actor, action=TenantAction.BUDGET_CHANGED, target=locked.name, data=budget
            )
        if other:
            audit_record(
                tenant=locked, actor=actor, action=TenantAction.TENANT_SETTINGS_CHANGED, target=locked.name, data=other
            )
    return locked
