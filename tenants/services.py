"""Every write about tenants, memberships, logins and the audit log.

Views, the admin, commands and tasks all call these; none writes the models itself.
"""

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from sesame.utils import get_query_string

from smscrm import crypto
from smscrm.queueing import enqueue
from tenants import killswitch
from tenants.acting import acting_api_key
from tenants.middleware import SESSION_KEY
from tenants.models import AuditEvent, Invitation, Membership, Tenant
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


def tenant_set_paused(*, tenant: Tenant, actor, paused: bool, reason: str = "") -> Tenant:
    """Turn the kill switch on or off. Takes effect at commit; a no-op change is not audited.

    Pausing waits for the hand-off chunks under way (tenants.killswitch): no provider call
    starts after it commits."""
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
                data={"reason": reason} if reason else {},
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


# --- Memberships ---------------------------------------------------------------------------


def _lock_membership(membership: Membership) -> Membership:
    """Lock the tenant row first, so concurrent membership changes of one tenant queue up
    and "at least one owner" cannot be broken by two demotions racing each other."""
    Tenant.objects.select_for_update().filter(pk=membership.tenant_id).get()
    return Membership.objects.select_for_update().select_related("tenant", "user").get(pk=membership.pk)


def _is_last_owner(membership: Membership) -> bool:
    return (
        membership.role == Role.OWNER
        and not Membership.objects.filter(tenant_id=membership.tenant_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def membership_add(*, tenant: Tenant, actor, email: str, role: str) -> Membership:
    """Give the user with ``email`` (created if new) a role in ``tenant`` at once.

    For the platform's operator (the Django admin's superusers, commands). A business's owners
    invite instead (``invitation_create``): nobody joins a business without saying yes.
    """
    role = Role(role)
    with transaction.atomic():
        user = user_get_or_create(email=email)
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise ValidationError(f"{user.email} is already a member of {tenant.name}.")
        membership = Membership.objects.create(tenant=tenant, user=user, role=role)
        audit_record(
            tenant=tenant, actor=actor, action=TenantAction.MEMBER_ADDED, target=user.email, data={"role": role}
        )
    return membership


# --- Invitations -----------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("tenants:invitation", args=[token])


def invitation_create(*, tenant: Tenant, actor, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` to join ``tenant`` as ``role``; (invitation, the link's token).

    The token is returned once (for the e-mail) and only its hash is kept. Inviting an address
    again replaces its open invitation, so the newest link is the one that works. Raises
    ValidationError when the address already belongs to the business.
    """
    role = Role(role)
    email = normalize_email(email)
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).get()  # one invitation at a time per business
        Invitation.objects.filter(
            tenant=tenant, email=email, accepted_at=None, declined_at=None, revoked_at=None
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            invited_by=acting_user(actor),
            token_hash=_token_hash(token),
            expires_at=now + dt.timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
        )
        audit_record(tenant=tenant, actor=actor, action=TenantAction.MEMBER_INVITED, target=email, data={"role": role})
        transaction.on_commit(lambda: _send_invitation(invitation.pk, token))
    return invitation, token


def _send_invitation(invitation_id: int, token: str) -> None:
    from tenants.tasks import send_invitation

    # Encrypted on its way through the broker: the queue (Redis) never holds a usable link.
    # Without a broker the e-mail goes from here.
    enqueue(
        send_invitation,
        invitation_id,
        crypto.encrypt(token),
        fallback=lambda: invitation_send(invitation_id=invitation_id, token=token),
    )


def invitation_send(*, invitation_id: int, token: str) -> bool:
    """E-mail the invitation's link; False when it is no longer open (nothing sent)."""
    invitation = Invitation.objects.select_related("tenant", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_open(timezone.now()) or invitation.token_hash != _token_hash(token):
        return False
    inviter = invitation.invited_by.email if invitation.invited_by else "An administrator"
    days = settings.INVITATION_MAX_AGE_DAYS
    send_mail(
        subject=f"Join {invitation.tenant.name} on SMS CRM",
        message=(
            f"Hello,\n\n{inviter} invited you to join {invitation.tenant.name} as {invitation.get_role_display()}.\n\n"
            f"To accept (or decline), open this link within {days} days:\n\n{invitation_link(token)}\n\n"
            "If you did not expect this, ignore this e-mail: nothing changes unless you accept."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return True


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a link's token names (open or not), or None."""
    if not token or len(token) > 100:
        return None
    return Invitation.objects.select_related("tenant", "invited_by").filter(token_hash=_token_hash(token)).first()


def _open_invitation(token: str) -> Invitation:
    invitation = invitation_by_token(token)
    if invitation is None:
        raise ValidationError("This invitation link is not valid.")
    invitation = Invitation.objects.select_for_update().select_related("tenant").get(pk=invitation.pk)
    if not invitation.is_open(timezone.now()):
        raise ValidationError("This invitation has expired or was already used. Ask for a new one.")
    return invitation


def invitation_needs_sign_in(invitation: Invitation) -> bool:
    """True when the invitee already has an account: they sign in as themselves before accepting."""
    return User.objects.filter(email__iexact=invitation.email).exists()


def invitation_accept(*, request, token: str) -> Membership:
    """The invitee says yes: they become a member and start working in the business that invited them.

    Someone new gets an account and is signed in (the link proves the mailbox is theirs, as a
    magic link does). Someone who already has an account must be signed in as themselves
    first: an invitation never opens an existing account (a forwarded or leaked link would
    otherwise sign anyone into it, with every business it belongs to). Refused
    (ValidationError) when the link is not open, or when someone else is signed in.
    """
    with transaction.atomic():
        invitation = _open_invitation(token)
        signed_in = acting_user(request.user)
        if signed_in is not None and normalize_email(signed_in.email) != invitation.email:
            raise ValidationError(
                f"This invitation is for {invitation.email}, but you are signed in as {signed_in.email}. "
                "Sign out, then open the link again."
            )
        if signed_in is None and invitation_needs_sign_in(invitation):
            raise ValidationError(
                f"{invitation.email} already has an account: sign in first, then open this invitation link again."
            )
        user = signed_in or user_get_or_create(email=invitation.email)
        if not user.is_active:
            raise ValidationError("This account is disabled.")
        try:
            with transaction.atomic():
                membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
        except IntegrityError:
            raise ValidationError(f"You are already a member of {invitation.tenant.name}.") from None
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        audit_record(
            tenant=invitation.tenant,
            actor=user,
            action=TenantAction.MEMBER_ADDED,
            target=user.email,
            data={
                "role": invitation.role,
                "invited_by": invitation.invited_by.email if invitation.invited_by else "",
                "accepted": True,
            },
        )
        if signed_in is None:
            login(request, user, backend="sesame.backends.ModelBackend")
            audit_record(tenant=invitation.tenant, actor=user, action=TenantAction.LOGIN, target=user.email)
        request.session[SESSION_KEY] = membership.tenant_id
        Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())
    return membership


def invitation_decline(*, token: str) -> Invitation:
    """The invitee says no: the link stops working and the business's activity says so."""
    with transaction.atomic():
        invitation = _open_invitation(token)
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at"])
        audit_record(
            tenant=invitation.tenant, actor=None, action=TenantAction.INVITATION_DECLINED, target=invitation.email
        )
    return invitation


def invitation_revoke(*, invitation: Invitation, actor) -> None:
    """An owner withdraws an open invitation; its link stops working."""
    with transaction.atomic():
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at=None, declined_at=None, revoked_at=None
        ).update(revoked_at=timezone.now())
        if updated:
            audit_record(
                tenant=invitation.tenant, actor=actor, action=TenantAction.INVITATION_REVOKED, target=invitation.email
            )


def membership_change_role(*, membership: Membership, actor, role: str) -> Membership:
    """Change a member's role; the last owner of a tenant cannot be demoted."""
    role = Role(role)
    with transaction.atomic():
        locked = _lock_membership(membership)
        if locked.role == role:
            return locked
        if _is_last_owner(locked):
            raise ValidationError("A business needs at least one owner: make someone else owner first.")
        before = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=TenantAction.MEMBER_ROLE_CHANGED,
            target=locked.user.email,
            data={"from": before, "to": role},
        )
    return locked


def membership_remove(*, membership: Membership, actor) -> None:
    """Remove a member; the last owner of a tenant cannot be removed."""
    with transaction.atomic():
        locked = _lock_membership(membership)
        if _is_last_owner(locked):
            raise ValidationError("A business needs at least one owner: make someone else owner first.")
        locked.delete()
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=TenantAction.MEMBER_REMOVED,
            target=locked.user.email,
            data={"role": locked.role},
        )
