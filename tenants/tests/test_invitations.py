"""Joining a business is the invitee's choice, and a sign-in is recorded where the user works.

The attack these reproduce: an owner "added" any existing user by e-mail, who was enrolled at
once without knowing; the victim's logins and logouts then appeared in the adder's activity
log, and after the adder renamed its business to sort first, the victim landed there at sign-in
and imported their contacts into it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants import memberships, services
from tenants.models import AuditEvent, Invitation, Membership
from tenants.roles import Role
from tenants.services import TenantAction
from tenants.testing import assert_hidden_from, assert_roles, client_for
from tenants.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def invite(client, email="victim@elsewhere.test", role="staff", capture=None):
    if capture is None:
        return client.post(reverse("tenants:members"), {"email": email, "role": role})
    with capture(execute=True):
        return client.post(reverse("tenants:members"), {"email": email, "role": role})


def link_in(message) -> str:
    return re.search(r"https?://\S+/invitations/\S+/", message.body).group(0)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_inviting_an_existing_user_enrols_nobody_until_they_accept(tenant, members, django_capture_on_commit_callbacks):
    victim = MembershipFactory(role=Role.OWNER, user=UserFactory(email="victim@elsewhere.test")).user
    response = invite(client_for(members["owner"]), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert not Membership.objects.filter(tenant=tenant, user=victim).exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["victim@elsewhere.test"]
    assert "Acme Bakery" in mail.outbox[0].subject
    invitation = Invitation.objects.get(tenant=tenant)
    assert invitation.token_hash not in mail.outbox[0].body  # only the hash is kept, the link carries the token
    assert AuditEvent.objects.filter(tenant=tenant, action=TenantAction.MEMBER_INVITED, target=victim.email).exists()


def test_the_invitee_accepts_by_the_link_and_lands_in_that_business(
    tenant, members, django_capture_on_commit_callbacks
):
    invite(client_for(members["owner"]), email="New.Person@Example.test", capture=django_capture_on_commit_callbacks)
    path = path_of(link_in(mail.outbox[0]))
    browser = Client()
    # Opening the link (as a mail scanner would) answers nothing.
    offer = browser.get(path)
    assert offer.status_code == 200 and b"Join Acme Bakery" in offer.content
    assert not Membership.objects.filter(user__email="new.person@example.test").exists()
    accepted = browser.post(path, {"answer": "accept"})
    assert accepted.status_code == 302 and accepted["Location"] == reverse("reporting:dashboard")
    membership = Membership.objects.get(tenant=tenant, user__email="new.person@example.test")
    assert membership.role == Role.STAFF
    assert browser.get(reverse("reporting:dashboard")).status_code == 200  # signed in, working in Acme
    event = AuditEvent.objects.get(tenant=tenant, action=TenantAction.MEMBER_ADDED, target="new.person@example.test")
    assert event.actor == membership.user and event.data["invited_by"] == members["owner"].email
    # The link works once.
    again = Client().post(path, {"answer": "accept"})
    assert again.status_code == 302 and Membership.objects.filter(user=membership.user).count() == 1


def test_a_declined_revoked_or_expired_invitation_enrols_nobody(tenant, members):
    owner = members["owner"]
    _, declined = memberships.invitation_create(tenant=tenant, actor=owner, email="a@x.test", role="admin")
    Client().post(reverse("tenants:invitation", args=[declined]), {"answer": "decline"})
    invitation, revoked = memberships.invitation_create(tenant=tenant, actor=owner, email="b@x.test", role="admin")
    client_for(owner).post(reverse("tenants:invitation_revoke", args=[invitation.pk]))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _, expired = memberships.invitation_create(tenant=tenant, actor=owner, email="c@x.test", role="admin")
    with time_machine.travel(start + dt.timedelta(days=7, minutes=1), tick=False):
        for token in (declined, revoked, expired):
            page = Client().get(reverse("tenants:invitation", args=[token]))
            assert b"no longer open" in page.content
            Client().post(reverse("tenants:invitation", args=[token]), {"answer": "accept"})
    assert not Membership.objects.filter(user__email__in=["a@x.test", "b@x.test", "c@x.test"]).exists()
    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {TenantAction.INVITATION_DECLINED, TenantAction.INVITATION_REVOKED} <= actions


def test_inviting_again_replaces_the_old_link(tenant, members):
    owner = members["owner"]
    _, old = memberships.invitation_create(tenant=tenant, actor=owner, email="a@x.test", role="staff")
    _, new = memberships.invitation_create(tenant=tenant, actor=owner, email="A@X.test", role="admin")
    Client().post(reverse("tenants:invitation", args=[old]), {"answer": "accept"})
    assert not Membership.objects.filter(user__email="a@x.test").exists()
    Client().post(reverse("tenants:invitation", args=[new]), {"answer": "accept"})
    assert Membership.objects.get(user__email="a@x.test").role == Role.ADMIN


def test_someone_else_signed_in_cannot_accept_it(tenant, members, other_owner):
    _, token = memberships.invitation_create(tenant=tenant, actor=members["owner"], email="a@x.test", role="owner")
    client = client_for(other_owner)
    assert b"Sign out" in client.get(reverse("tenants:invitation", args=[token])).content
    client.post(reverse("tenants:invitation", args=[token]), {"answer": "accept"})
    assert not Membership.objects.filter(tenant=tenant, user=other_owner).exists()


def test_an_unknown_link_is_a_404(db):
    assert Client().get(reverse("tenants:invitation", args=["nope"])).status_code == 404
    assert Client().post(reverse("tenants:invitation", args=["nope"]), {"answer": "accept"}).status_code == 404


def test_only_owners_invite_and_withdraw(tenant, members, other_owner):
    assert_roles(
        reverse("tenants:members"),
        members=members,
        allowed={"owner"},
        method="post",
        data=lambda: {"email": f"{timezone.now().timestamp()}@x.test", "role": "viewer"},
    )

    def fresh():
        invitation, _ = memberships.invitation_create(
            tenant=tenant, actor=None, email=f"{timezone.now().timestamp()}@y.test", role="viewer"
        )
        return reverse("tenants:invitation_revoke", args=[invitation.pk])

    assert_roles(fresh, members=members, allowed={"owner"}, method="post")
    assert_hidden_from(fresh(), user=other_owner, method="post")


def test_a_sign_in_is_recorded_only_in_the_business_worked_in(tenant, other_tenant, members):
    user = members["staff"]
    theirs = MembershipFactory(tenant=other_tenant, user=user, role=Role.VIEWER)
    Membership.objects.filter(pk=theirs.pk).update(last_used_at=timezone.now())  # worked there last
    browser = Client()
    token = re.search(r"sesame=([\w-]+)", services.login_link_build(user=user)).group(1)
    browser.post(reverse("tenants:login_confirm"), {"sesame": token})
    assert AuditEvent.objects.filter(action=TenantAction.LOGIN, tenant=other_tenant, actor=user).count() == 1
    assert not AuditEvent.objects.filter(action=TenantAction.LOGIN, tenant=tenant).exists()
    browser.post(reverse("tenants:logout"))
    assert AuditEvent.objects.filter(action=TenantAction.LOGOUT, tenant=other_tenant, actor=user).count() == 1
    assert not AuditEvent.objects.filter(action=TenantAction.LOGOUT, tenant=tenant).exists()


def sign_in(user) -> Client:
    user.refresh_from_db()  # a link is built from the current last_login (single use)
    browser = Client()
    token = re.search(r"sesame=([\w-]+)", services.login_link_build(user=user)).group(1)
    browser.post(reverse("tenants:login_confirm"), {"sesame": token})
    return browser


def test_sign_in_lands_in_the_last_business_used_whatever_the_names(tenant, other_tenant, members):
    user = members["staff"]
    MembershipFactory(tenant=other_tenant, user=user, role=Role.ADMIN)
    browser = sign_in(user)
    assert browser.get(reverse("reporting:dashboard"))["Location"].startswith(reverse("tenants:choose"))
    browser.post(reverse("tenants:choose"), {"tenant": tenant.pk})
    # The other business renames itself to sort first: the user still lands where they worked.
    other_tenant.name = "AAA First"
    other_tenant.save()
    browser = sign_in(user)
    assert browser.get(reverse("reporting:dashboard")).context["current_tenant"] == tenant


def test_a_single_business_needs_no_choice(tenant, members):
    browser = sign_in(members["viewer"])
    assert browser.get(reverse("reporting:dashboard")).context["current_tenant"] == tenant


def test_an_invitation_token_never_reaches_a_log_line():
    import logging

    from gunicorn.config import Config

    from smscrm.gunicorn_logging import RedactingLogger
    from smscrm.logging import RedactSecretsFilter

    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s', ("GET /invitations/Zk9s_secret-1/ HTTP/1.1", 200), None
    )
    RedactSecretsFilter().filter(record)
    assert "Zk9s_secret-1" not in record.getMessage() and "/invitations/[redacted]/" in record.getMessage()

    class Request:
        method, path, query, version, headers, uri = "GET", "/invitations/Zk9s_secret-1/", "", (1, 1), [], ""

    class Response:
        status, sent, headers = "200 OK", 10, []

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/invitations/Zk9s_secret-1/",
        "PATH_INFO": "/invitations/Zk9s_secret-1/",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = RedactingLogger(Config()).atoms(Response(), Request(), environ, dt.timedelta(seconds=0.01))
    assert "Zk9s_secret-1" not in atoms["U"] and "Zk9s_secret-1" not in atoms["r"]


def test_an_existing_account_signs_in_itself_before_accepting(tenant, members, other_owner):
    """An invitation link never opens an existing account (a forwarded link would, for days)."""
    _, token = memberships.invitation_create(
        tenant=tenant, actor=members["owner"], email=other_owner.email, role="staff"
    )
    url = reverse("tenants:invitation", args=[token])
    anonymous = Client()
    assert b"already has an account" in anonymous.get(url).content
    anonymous.post(url, {"answer": "accept"})
    assert not Membership.objects.filter(tenant=tenant, user=other_owner).exists()
    assert anonymous.get(reverse("reporting:dashboard")).status_code == 302  # still not signed in
    signed_in = client_for(other_owner)
    assert signed_in.post(url, {"answer": "accept"})["Location"] == reverse("reporting:dashboard")
    assert Membership.objects.get(tenant=tenant, user=other_owner).role == Role.STAFF


def test_the_broker_never_carries_a_usable_link(tenant, members, monkeypatch, django_capture_on_commit_callbacks):
    from tenants import tasks

    sent = []
    monkeypatch.setattr(tasks.send_invitation, "apply_async", lambda args=(), **options: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        _, token = memberships.invitation_create(tenant=tenant, actor=members["owner"], email="a@x.test", role="staff")
    [(invitation_id, sealed)] = sent
    assert token not in sealed
    tasks.send_invitation(invitation_id, sealed)  # the worker opens it and sends the link
    assert token in mail.outbox[0].body
