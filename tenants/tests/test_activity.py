"""The activity log records contact changes and manual consent, and filters by kind and person across pages."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts import services as contact_services
from contacts.tests.factories import ContactFactory
from tenants.models import AuditEvent
from tenants.services import audit_record
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def actions(tenant) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(tenant=tenant).order_by("id").values_list("action", "target"))


def shown_rows(client, **params) -> list[str]:
    """The activity table's rows as text, in page order."""
    response = client.get(reverse("tenants:activity"), params)
    assert response.status_code == 200
    body = html.unescape(response.content.decode()).split("<tbody>")[1].split("</tbody>")[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_contact_creation_edits_and_manual_consent_are_recorded(tenant, members):
    staff = members["staff"]
    contact = contact_services.contact_create(
        tenant=tenant, actor=staff, phone="0412 345 678", first_name="Zoë", last_name="Ng"
    )
    contact_services.contact_update(contact=contact, actor=staff, last_name="Nguyen", email="zoe@example.com")
    contact_services.contact_update(contact=contact, actor=staff, last_name="Nguyen", email="zoe@example.com")
    contact_services.consent_record_add(
        contact=contact, actor=staff, kind="express", source="counter sign-up", captured_at=timezone.now()
    )
    assert actions(tenant) == [
        ("contact.created", "+61412345678"),
        ("contact.updated", "+61412345678"),  # the second save changed nothing: not recorded
        ("consent.recorded", "+61412345678"),
    ]
    created, updated, consent = AuditEvent.objects.filter(tenant=tenant).order_by("id")
    assert (created.actor, created.data) == (staff, {"name": "Zoë Ng"})
    assert updated.data == {
        "last_name": {"from": "Ng", "to": "Nguyen"},
        "email": {"from": "", "to": "zoe@example.com"},
    }
    assert (consent.actor, consent.data["kind"], consent.data["source"]) == (staff, "express", "counter sign-up")


def test_the_pages_record_them_too(tenant, members):
    staff = client_for(members["staff"])
    staff.post(reverse("contacts:create"), {"phone": "0412 345 678", "first_name": "Ada"})
    contact = tenant.contacts.get()
    staff.post(
        reverse("contacts:edit", args=[contact.pk]), {"phone": "0412 345 678", "first_name": "Ada", "last_name": "L"}
    )
    yesterday = timezone.localtime(timezone.now() - timedelta(days=1), tenant.zone).strftime("%Y-%m-%dT%H:%M")
    staff.post(
        reverse("contacts:consent", args=[contact.pk]),
        {"kind": "express", "source": "phone call", "captured_at": yesterday},
    )
    assert [action for action, _ in actions(tenant)] == ["contact.created", "contact.updated", "consent.recorded"]


def test_consent_by_text_or_import_is_not_logged_as_manual_consent(tenant):
    contact = ContactFactory(tenant=tenant)
    contact_services.consent_record_add(
        contact=contact, actor=None, kind="express", source="keyword START", captured_at=timezone.now()
    )
    assert not AuditEvent.objects.filter(tenant=tenant, action="consent.recorded").exists()


@pytest.fixture
def logged(tenant, other_tenant, members, other_owner):
    audit_record(tenant=tenant, actor=members["staff"], action="contact.created", target="event-one")
    audit_record(tenant=tenant, actor=members["admin"], action="dnc.added", target="event-two")
    audit_record(tenant=tenant, actor=None, action="inbound.opted_out", target="event-three")
    audit_record(tenant=tenant, actor=members["staff"], action="consent.recorded", target="event-four")
    audit_record(tenant=other_tenant, actor=other_owner, action="contact.created", target="event-theirs")


def test_the_log_filters_by_kind(logged, members):
    admin = client_for(members["admin"])
    assert len(shown_rows(admin)) == 4
    rows = shown_rows(admin, kind="contact")
    assert len(rows) == 1 and "event-one" in rows[0]
    assert [("event-four" in row) for row in shown_rows(admin, kind="consent")] == [True]
    assert len(shown_rows(admin, kind="nonsense")) == 4  # an unknown kind filters nothing out


def test_the_log_filters_by_person_and_by_the_system(logged, members, other_owner):
    admin = client_for(members["admin"])
    staff_rows = shown_rows(admin, person=str(members["staff"].pk))
    assert len(staff_rows) == 2 and all("staff@acme.test" in row for row in staff_rows)
    system_rows = shown_rows(admin, person="system")
    assert len(system_rows) == 1 and "event-three" in system_rows[0]
    both = shown_rows(admin, person=str(members["staff"].pk), kind="consent")
    assert len(both) == 1 and "event-four" in both[0]
    # Another business's member, or a mangled value, matches nothing: never their events, never everything.
    assert shown_rows(admin, person=str(other_owner.pk)) == ["Nothing matches this filter."]
    assert shown_rows(admin, person="1 OR 1=1") == ["Nothing matches this filter."]


def test_the_filter_form_offers_the_members_and_keeps_the_choice(logged, members, other_owner):
    response = client_for(members["admin"]).get(reverse("tenants:activity"), {"kind": "dnc"})
    body = html.unescape(response.content.decode())
    assert '<option value="dnc" selected>Do-not-contact list</option>' in body
    assert f'<option value="{members["staff"].pk}">staff@acme.test</option>' in body
    assert other_owner.email not in body


def test_pages_keep_the_filter(tenant, members):
    for n in range(60):
        audit_record(tenant=tenant, actor=members["staff"], action="contact.created", target=f"created-{n}")
    for n in range(5):
        audit_record(tenant=tenant, actor=members["admin"], action="dnc.added", target=f"dnc-{n}")
    admin = client_for(members["admin"])
    response = admin.get(reverse("tenants:activity"), {"kind": "contact", "person": str(members["staff"].pk)})
    body = html.unescape(response.content.decode())
    next_link = re.search(r'<a href="([^"]*)" rel="next">', body)[1]
    assert next_link == f"?kind=contact&person={members['staff'].pk}&page=2"
    second = admin.get(reverse("tenants:activity") + next_link)
    rows = re.findall(r"<tr>(.*?)</tr>", html.unescape(second.content.decode()).split("<tbody>")[1], re.S)
    assert len(rows) == 10 and all("created-" in row for row in rows)
    assert "dnc-" not in second.content.decode()


def test_the_log_is_for_admins_and_scoped(members, logged):
    assert client_for(members["staff"]).get(reverse("tenants:activity"), {"kind": "contact"}).status_code == 403
