"""The Django admin is tenant-scoped for everyone but superusers."""

import pytest
from django.urls import reverse

from tenants.models import AuditEvent, Membership, Tenant
from tenants.roles import Role
from tenants.services import Action
from tenants.testing import client_for
from tenants.tests.factories import MembershipFactory, UserFactory

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
    add_form = client.get(reverse("admin:tenants_membership_add")).content.decode()
    assert "Acme Bakery" in add_form and "Rival Florist" not in add_form
    assert "owner@rival.test" not in add_form  # user choices come from their own tenants only
    changelist = client.get(reverse("admin:tenants_membership_changelist")).content.decode()
    assert "Rival Florist" not in changelist


def test_staff_cannot_move_a_row_to_another_tenant(staff_owner, tenant, other_tenant):
    membership = Membership.objects.get(tenant=tenant, role=Role.VIEWER)
    url = reverse("admin:tenants_membership_change", args=[membership.pk])
    client = client_for(staff_owner)
    assert 'name="tenant"' not in client.get(url).content.decode()  # read-only once saved
    client.post(url, {"tenant": other_tenant.pk, "role": "admin"})
    membership.refresh_from_db()
    assert membership.tenant == tenant and membership.role == Role.ADMIN  # role change through the service
    assert AuditEvent.objects.filter(action=Action.MEMBER_ROLE_CHANGED, target=membership.user.email).exists()


def test_staff_cannot_add_a_row_to_another_tenant(staff_owner, tenant, other_tenant):
    newcomer = MembershipFactory(tenant=tenant, role=Role.VIEWER).user
    response = client_for(staff_owner).post(
        reverse("admin:tenants_membership_add"), {"tenant": other_tenant.pk, "user": newcomer.pk, "role": "owner"}
    )
    assert response.status_code == 200  # the form refuses the choice
    assert not Membership.objects.filter(tenant=other_tenant, user=newcomer).exists()


def test_admin_kill_switch_goes_through_the_service(staff_owner, tenant):
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    data = {
        f.name: getattr(tenant, f.name) for f in Tenant._meta.fields if f.name not in {"id", "created_at", "is_paused"}
    }
    data["is_paused"] = "on"
    response = client_for(staff_owner).post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.is_paused
    assert AuditEvent.objects.filter(tenant=tenant, action=Action.TENANT_PAUSED, actor=staff_owner).exists()


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
    assert response.status_code in (302, 403)
    assert response.status_code == 403 or reverse("admin:login") in response["Location"]


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
    assert AuditEvent.objects.filter(action=Action.MEMBER_REMOVED, target=viewer.user.email).exists()
