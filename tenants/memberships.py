"""Every write about a business's members: an operator adding one at once, invitations (made,
e-mailed, accepted, declined, revoked), role changes and removals, each audited.

Split from tenants.services, whose audit log, actions and users these use; views, the admin and
the invitation task call them, and none writes the models itself.
"""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from smscrm import crypto
from smscrm.queueing import enqueue
from tenants.middleware import SESSION_KEY
from tenants.models import Invitation, Membership, Tenant
from tenants.roles import Role
from tenants.services import TenantAction, acting_user, audit_record, normalize_email, user_get_or_create

User = get_user_model()


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
