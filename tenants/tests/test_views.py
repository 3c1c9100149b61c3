"""Every tenants page: who may use it, who gets 403, and that other tenants get 404."""

import pytest
from django.urls import reverse

from tenants.models import AuditEvent, Membership, Tenant
from tenants.roles import Role
from tenants.services import TenantAction
from tenants.testing import ALL_ROLES, assert_hidden_from, assert_login_required, assert_roles, client_for
from tenants.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("reporting:dashboard", ALL_ROLES),
        ("tenants:pause", {"admin", "owner"}),
        ("tenants:resume", {"admin", "owner"}),
        ("tenants:settings", {"admin", "owner"}),
        ("tenants:members", {"owner"}),
        ("tenants:activity", {"admin", "owner"}),
    ],
)
def test_pages_by_role(name, allowed, members):
    url = reverse(name)
    assert_login_required(url)
    assert_roles(url, members=members, allowed=allowed)


def test_user_without_membership_is_refused(client):
    client.force_login(UserFactory())
    assert client.get(reverse("reporting:dashboard")).status_code == 403


def test_pause_and_resume_take_effect_at_once_and_are_audited(tenant, members):
    admin = client_for(members["admin"])
    confirm = admin.get(reverse("tenants:pause"))
    assert b"Yes, pause sending" in confirm.content
    response = admin.post(reverse("tenants:pause"), {"reason": "wrong list"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.is_paused
    assert b"Paused" in admin.get(reverse("reporting:dashboard")).content
    admin.post(reverse("tenants:resume"))
    tenant.refresh_from_db()
    assert not tenant.is_paused
    actions = list(AuditEvent.objects.filter(tenant=tenant).values_list("action", "data"))
    assert (TenantAction.TENANT_RESUMED, {}) in actions
    assert (TenantAction.TENANT_PAUSED, {"reason": "wrong list"}) in actions


def test_kill_switch_post_refused_for_staff_and_changes_nothing(tenant, members):
    response = client_for(members["staff"]).post(reverse("tenants:pause"))
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert not tenant.is_paused
    assert not AuditEvent.objects.filter(action=TenantAction.TENANT_PAUSED).exists()


def test_kill_switch_only_touches_the_current_tenant(tenant, other_tenant, members):
    client_for(members["owner"]).post(reverse("tenants:pause"))
    other_tenant.refresh_from_db()
    assert not other_tenant.is_paused


def test_budget_change_is_validated_and_audited(tenant, members):
    client = client_for(members["admin"])
    data = {
        "name": tenant.name,
        "business_name": tenant.business_name,
        "timezone": "Australia/Perth",
        "suppression_days": 90,
        "quiet_hours_start": 20,
        "quiet_hours_end": 9,
        "daily_budget_cents": "50.00",  # typed in dollars, stored in cents
        "monthly_budget_cents": "1,000",
        "contact_details": "",
        "opt_out_reply": tenant.opt_out_reply,
        "opt_in_reply": tenant.opt_in_reply,
        "help_reply": tenant.help_reply,
        "opt_out_phrases": "",
        "opt_out_line": "Reply STOP to opt out",
        "short_domain": "go.acme.com.au",
        "link_ttl_days": 60,
    }
    assert client.post(reverse("tenants:settings"), data).status_code == 302
    tenant.refresh_from_db()
    assert (tenant.daily_budget_cents, tenant.timezone, tenant.quiet_hours_start) == (5_000, "Australia/Perth", 20)
    budget = AuditEvent.objects.get(action=TenantAction.BUDGET_CHANGED)
    assert budget.data["daily_budget_cents"] == {"from": 10_000, "to": 5_000}

    # Quiet hours may be narrowed, never widened; the daily cap may not exceed the monthly one.
    for bad in (
        {"quiet_hours_start": 23},
        {"quiet_hours_end": 7},
        {"daily_budget_cents": "2000"},
        {"timezone": "Mars/Base"},
        {"opt_out_reply": "You have been unsubscribed."},  # must name the business
        {"help_reply": "{business}: call {phone}"},  # only {business} and {contact}
        {"short_domain": "https://go.acme.com.au/x"},  # a host name, not a URL
        {"opt_out_line": "Thanks!"},  # no opt-out instruction (Spam Act s18)
        {"link_ttl_days": 0},
    ):
        response = client.post(reverse("tenants:settings"), {**data, **bad})
        assert response.status_code == 400, bad
    tenant.refresh_from_db()
    assert (tenant.quiet_hours_start, tenant.quiet_hours_end, tenant.daily_budget_cents) == (20, 9, 5_000)


def test_owner_manages_members_and_the_last_owner_stays(tenant, members):
    owner = client_for(members["owner"])
    new = MembershipFactory(tenant=tenant, role=Role.STAFF, user=UserFactory(email="new@acme.test"))
    # Inviting a member again says so.
    assert owner.post(reverse("tenants:members"), {"email": "new@acme.test", "role": "admin"}).status_code == 400

    owner.post(reverse("tenants:member_role", args=[new.pk]), {"role": "admin"})
    new.refresh_from_db()
    assert new.role == Role.ADMIN

    sole_owner = Membership.objects.get(tenant=tenant, role=Role.OWNER)
    owner.post(reverse("tenants:member_role", args=[sole_owner.pk]), {"role": "viewer"})
    owner.post(reverse("tenants:member_remove", args=[sole_owner.pk]))
    sole_owner.refresh_from_db()
    assert sole_owner.role == Role.OWNER

    owner.post(reverse("tenants:member_remove", args=[new.pk]))
    assert not Membership.objects.filter(pk=new.pk).exists()
    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {TenantAction.MEMBER_ROLE_CHANGED, TenantAction.MEMBER_REMOVED} <= actions


def test_member_change_by_role(tenant, members):
    def fresh_member_url():
        return reverse("tenants:member_role", args=[MembershipFactory(tenant=tenant, role=Role.VIEWER).pk])

    assert_roles(fresh_member_url, members=members, allowed={"owner"}, method="post", data={"role": "staff"})


def test_other_tenants_members_are_404(tenant, other_tenant, members, other_owner):
    theirs = Membership.objects.get(tenant=other_tenant)
    for name in ("tenants:member_role", "tenants:member_remove"):
        assert_hidden_from(
            reverse(name, args=[theirs.pk]), user=members["owner"], method="post", data={"role": "viewer"}
        )
    ours = Membership.objects.get(tenant=tenant, role=Role.VIEWER)
    for name in ("tenants:member_role", "tenants:member_remove"):
        assert_hidden_from(reverse(name, args=[ours.pk]), user=other_owner, method="post", data={"role": "owner"})
    assert Membership.objects.get(pk=ours.pk).role == Role.VIEWER


def test_activity_shows_only_this_tenants_events(tenant, other_tenant, members, other_owner):
    client_for(other_owner).post(reverse("tenants:pause"), {"reason": "rival secret"})
    client_for(members["owner"]).post(reverse("tenants:pause"), {"reason": "our reason"})
    page = client_for(members["admin"]).get(reverse("tenants:activity")).content.decode()
    assert "our reason" in page and "rival secret" not in page


def test_switching_tenants(tenant, other_tenant, members):
    user = members["staff"]
    MembershipFactory(tenant=other_tenant, user=user, role=Role.ADMIN)
    client = client_for(user)
    # Two businesses and neither used yet: the pages ask which one first.
    asked = client.get(reverse("reporting:dashboard"))
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("tenants:choose"))
    page = client.get(asked["Location"]).content.decode()
    assert "Acme Bakery" in page and "Rival Florist" in page
    chosen = client.post(reverse("tenants:choose"), {"tenant": tenant.pk, "next": reverse("contacts:list")})
    assert chosen["Location"] == reverse("contacts:list")
    page = client.get(reverse("reporting:dashboard")).content.decode()
    assert "Acme Bakery" in page and "Rival Florist" in page  # the switcher lists both
    assert client.post(reverse("tenants:switch"), {"tenant": other_tenant.pk}).status_code == 302
    assert b"Pause all sending" in client.get(reverse("reporting:dashboard")).content  # admin there
    # A tenant the user is not in is a 404, the same as one that does not exist.
    stranger = Tenant.objects.create(name="Stranger", slug="stranger", business_name="Stranger")
    assert client.post(reverse("tenants:switch"), {"tenant": stranger.pk}).status_code == 404
    assert client.post(reverse("tenants:switch"), {"tenant": 999_999}).status_code == 404
    assert client.post(reverse("tenants:choose"), {"tenant": stranger.pk}).status_code == 404


def test_forms_require_csrf(members):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(members["owner"])
    assert client.post(reverse("tenants:pause")).status_code == 403
    assert client.post(reverse("tenants:login"), {"email": "a@b.test"}).status_code == 403


def test_audit_log_is_append_only(tenant):
    event = AuditEvent.objects.create(tenant=tenant, action="x")
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="y")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
