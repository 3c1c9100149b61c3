"""The contacts admin: a refusal by the service is shown on the form and nothing is saved."""

import pytest
from django.urls import reverse

from contacts.models import Contact, DoNotContact
from contacts.tests.factories import ContactFactory, mobile
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def _contact_form(tenant, **changes) -> dict:
    return {
        "tenant": tenant.pk, "phone_e164": "0412 345 678", "first_name": "Ann", "last_name": "", "email": "",
        "timezone": "", "state": "", "postcode": "", "custom_fields": "{}", "tags": "[]",
        "undeliverable_reason": "",
    } | changes  # fmt: skip


def test_a_contact_the_service_refuses_is_not_added_successfully(staff_owner, tenant):
    response = client_for(staff_owner).post(
        reverse("admin:contacts_contact_add"), _contact_form(tenant, phone_e164="call me"), follow=True
    )
    assert response.status_code == 200
    assert "phone_e164" in response.context["adminform"].form.errors
    assert "successfully" not in response.content.decode()
    assert not Contact.objects.filter(tenant=tenant).exists()


def test_a_duplicate_contact_is_refused_on_the_change_form(staff_owner, tenant):
    ContactFactory(tenant=tenant, phone_e164=mobile(1))
    other = ContactFactory(tenant=tenant, phone_e164=mobile(2))
    form = _contact_form(tenant, phone_e164=mobile(1))
    response = client_for(staff_owner).post(reverse("admin:contacts_contact_change", args=[other.pk]), form)
    assert response.status_code == 200
    assert "already" in str(response.context["adminform"].form.errors["phone_e164"])
    other.refresh_from_db()
    assert other.phone_e164 == mobile(2)


def test_a_do_not_contact_entry_for_a_non_number_is_refused_on_the_form(staff_owner, tenant):
    form = {"tenant": tenant.pk, "phone_e164": "nobody", "reason": "manual", "note": "", "source": ""}
    response = client_for(staff_owner).post(reverse("admin:contacts_donotcontact_add"), form, follow=True)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert "successfully" not in response.content.decode()
    assert not DoNotContact.objects.filter(tenant=tenant).exists()
