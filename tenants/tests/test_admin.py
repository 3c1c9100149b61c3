"""The Django admin is tenant-scoped for everyone but superusers."""

import pytest
from django.urls import reverse

from tenants.models import AuditEvent, Membership, Tenant
from tenants.roles import Role
from tenants.services import TenantAction
from tenants.testing import client_for
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rival_membership(other_tenant, other_owner):
    return Membership.objects.get(tenant=other_tenant, user=other_owner)


def test_admin_login_is_the_magic_link_page(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    login = client.get(response["Location"])
    assert login.status_code == 302 and login["Location"].startswith(reverse("tenants:login"))


def test_staff_sees_only_their_tenants_rows(staff_owner, rival_membership, tenant, other_tenant):
    client = client_for(staff_owner)
    page = client.get(reverse("admin:tenants_membership_changelist")).content.decode()
    assert "owner@acme.test" in page and "owner@rival.test" not in page
    tenants_page = client.get(reverse("admin:tenants_tenant_changelist")).content.decode()
    assert "Acme Bakery" in tenants_page and "Rival Florist" not in tenants_page
    # The other tenant's rows behave exactly like missing ones.
    for url in (
        reverse("admin:tenants_membership_change", args=[rival_membership.pk]),
        reverse("admin:tenants_tenant_change", args=[other_tenant.pk]),
    ):
        theirs = client.get(url)
        missing = client.get(url.replace(f"/{url.split('/')[-3]}/", "/987654/"))
        assert theirs.status_code == missing.status_code == 302
        assert theirs["Location"] == missing["Location"] == reverse("admin:index")


def test_choice_lists_and_filters_hide_other_tenants(staff_owner, rival_membership, tenant):
    client = client_for(staff_owner)
    add_form = client.get(reverse("admin:messaging_sendingnumber_add")).content.decode()
    assert "Acme Bakery" in add_form and "Rival Florist" not in add_form
    changelist = client.get(reverse("admin:tenants_membership_changelist")).content.decode()
    assert "Rival Florist" not in changelist and "owner@rival.test" not in changelist


def test_staff_cannot_move_a_row_to_another_tenant(staff_owner, tenant, other_tenant):
    membership = Membership.objects.get(tenant=tenant, role=Role.VIEWER)
    url = reverse("admin:tenants_membership_change", args=[membership.pk])
    client = client_for(staff_owner)
    assert 'name="tenant"' not in client.get(url).content.decode()  # read-only once saved
    client.post(url, {"tenant": other_tenant.pk, "role": "admin"})
    membership.refresh_from_db()
    assert membership.tenant == tenant and membership.role == Role.ADMIN  # role change through the service
    assert AuditEvent.objects.filter(action=TenantAction.MEMBER_ROLE_CHANGED, target=membership.user.email).exists()


def test_staff_cannot_add_a_row_to_another_tenant(staff_owner, tenant, other_tenant):
    response = client_for(staff_owner).post(
        reverse("admin:messaging_price_add"),
        {
            "tenant": other_tenant.pk,
            "provider": "twilio",
            "country": "AU",
            "cents_per_segment": 5,
            "effective_from": "2026-01-01",
        },
    )
    assert response.status_code == 200  # the form refuses the choice
    assert not other_tenant.prices.exists()


def test_nobody_but_the_operator_enrols_a_user_through_the_admin(staff_owner, tenant):
    """Joining a business is the invitee's choice (an invitation), not an admin's row."""
    newcomer = UserFactory(email="someone@elsewhere.test")
    response = client_for(staff_owner).post(
        reverse("admin:tenants_membership_add"), {"tenant": tenant.pk, "user": newcomer.pk, "role": "viewer"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=newcomer).exists()


def test_admin_kill_switch_goes_through_the_service(staff_owner, tenant):
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    data = {
        f.name: getattr(tenant, f.name) for f in Tenant._meta.fields if f.name not in {"id", "created_at", "is_paused"}
    }
    data |= {"daily_budget_cents": "100.00", "monthly_budget_cents": "2000.00"}  # the admin takes dollars
    data["is_paused"] = "on"
    response = client_for(staff_owner).post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.is_paused
    assert AuditEvent.objects.filter(tenant=tenant, action=TenantAction.TENANT_PAUSED, actor=staff_owner).exists()


def test_roles_below_the_permission_only_read(tenant, members):
    viewer = members["viewer"]
    viewer.is_staff = True
    viewer.save()
    client = client_for(viewer)
    membership = Membership.objects.get(tenant=tenant, role=Role.STAFF)
    assert client.get(reverse("admin:tenants_membership_changelist")).status_code == 200
    client.post(reverse("admin:tenants_membership_change", args=[membership.pk]), {"role": "owner"})
    membership.refresh_from_db()
    assert membership.role == Role.STAFF
    assert client.get(reverse("admin:tenants_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:tenants_membership_add")).status_code == 403


def test_audit_events_are_read_only_in_admin(staff_owner, tenant):
    event = AuditEvent.objects.create(tenant=tenant, action="x")
    client = client_for(staff_owner)
    assert client.get(reverse("admin:tenants_auditevent_changelist")).status_code == 200
    assert client.post(reverse("admin:tenants_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:tenants_auditevent_add")).status_code == 403


def test_superuser_sees_everything(rival_membership, tenant):
    root = UserFactory(email="root@ops.test", is_staff=True, is_superuser=True)
    page = client_for(root).get(reverse("admin:tenants_membership_changelist")).content.decode()
    assert "owner@rival.test" in page and "Acme Bakery" in page


def test_non_staff_members_cannot_open_admin(members):
    response = client_for(members["owner"]).get(reverse("admin:index"))
    # Django's admin sends a signed-in user who is not staff to its own login page.
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={reverse('admin:index')}"


def test_admin_deletes_go_through_the_service_and_keep_the_last_owner(staff_owner, tenant, members):
    client = client_for(staff_owner)
    viewer = Membership.objects.get(tenant=tenant, role=Role.VIEWER)
    owner = Membership.objects.get(tenant=tenant, role=Role.OWNER)
    response = client.post(
        reverse("admin:tenants_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [viewer.pk, owner.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    assert Membership.objects.filter(pk=owner.pk).exists()  # a business keeps at least one owner
    assert AuditEvent.objects.filter(action=TenantAction.MEMBER_REMOVED, target=viewer.user.email).exists()


def tenant_admin_form(client, tenant) -> dict:
    """What the tenant's admin change form posts when nothing is edited."""
    form = client.get(reverse("admin:tenants_tenant_change", args=[tenant.pk])).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    return {key: ("on" if value is True else value) for key, value in data.items() if value not in (None, False)}


def test_admin_cannot_remove_the_opt_out_instruction(staff_owner, tenant):
    """Saved through the admin: opt_out_line="Thanks!" (Spam Act s18), unaudited."""
    client = client_for(staff_owner)
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    response = client.post(url, {**tenant_admin_form(client, tenant), "opt_out_line": "Thanks!"})
    assert response.status_code == 200
    assert "opt out" in " ".join(response.context["adminform"].form.errors["opt_out_line"])
    tenant.refresh_from_db()
    assert tenant.opt_out_line == "Reply STOP to opt out"


def test_operator_settings_are_read_only_for_a_business_admin(staff_owner, tenant):
    client = client_for(staff_owner)
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    form = client.get(url).content.decode()
    assert 'name="messages_per_second"' not in form and 'name="slug"' not in form
    data = {**tenant_admin_form(client, tenant), "messages_per_second": 2000, "slug": "hijacked", "name": "Acme 2"}
    assert client.post(url, data).status_code == 302
    tenant.refresh_from_db()
    assert (tenant.messages_per_second, tenant.slug, tenant.name) == (50, "acme", "Acme 2")


def test_every_tenant_change_in_the_admin_is_audited(staff_owner, tenant):
    client = client_for(staff_owner)
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    data = {**tenant_admin_form(client, tenant), "opt_out_line": "Txt STOP to opt out", "link_ttl_days": 30}
    assert client.post(url, data).status_code == 302
    event = AuditEvent.objects.get(tenant=tenant, action=TenantAction.TENANT_SETTINGS_CHANGED, actor=staff_owner)
    assert event.data == {
        "opt_out_line": {"from": "Reply STOP to opt out", "to": "Txt STOP to opt out"},
        "link_ttl_days": {"from": 60, "to": 30},
    }


def test_the_operator_changes_the_sending_rate_audited(tenant):
    root = UserFactory(email="root@ops.test", is_staff=True, is_superuser=True)
    client = client_for(root)
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    assert client.post(url, {**tenant_admin_form(client, tenant), "messages_per_second": 100}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.messages_per_second == 100
    event = AuditEvent.objects.get(tenant=tenant, action=TenantAction.TENANT_SETTINGS_CHANGED)
    assert event.data == {"messages_per_second": {"from": 50, "to": 100}} and event.actor == root


def test_the_service_refuses_operator_fields_to_a_business_user(tenant, members):
    from django.core.exceptions import PermissionDenied

    from tenants.services import tenant_update_settings

    with pytest.raises(PermissionDenied):
        tenant_update_settings(tenant=tenant, actor=members["owner"], messages_per_second=2000)
    tenant.refresh_from_db()
    assert tenant.messages_per_second == 50
