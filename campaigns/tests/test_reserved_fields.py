"""Imported data can never replace the campaign's link or the business's name in a message.

The attack: a CSV column named ``link`` (or ``business_name``) kept as a custom field overrode
the built-in placeholders; the message said "Totally Legit Bank" and the tenant's own short
domain redirected to a phishing page, while the previews showed nothing wrong.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns import dispatch
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from contacts import services as contact_services
from contacts.models import Contact
from contacts.tests.factories import mobile
from links.models import ShortLink
from messaging.backends import locmem
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def test_built_ins_win_over_custom_fields_already_stored(tenant, clock):
    """Rows written before the rule (or by the bulk import path) cannot hijack a message."""
    sending_setup(tenant)
    [contact] = sydney_contacts(tenant, 1)
    Contact.objects.filter(pk=contact.pk).update(
        custom_fields={"link": "https://evil.example/login", "business_name": "Totally Legit Bank", "first_name": "X"}
    )
    launched(
        tenant,
        contacts=[contact],
        bodies=("{{ business_name }}: hi {{ first_name }}, see {{ link }}",),
        link_url="https://acme.example/sale",
    )
    assert dispatch.dispatch().sent == 1
    [sent] = locmem.outbox
    assert "Totally Legit Bank" not in sent.body and "Acme Bakery" in sent.body
    assert f"hi {contact.first_name}," in sent.body
    assert ShortLink.objects.get().destination == "https://acme.example/sale"


@pytest.mark.parametrize("name", ["link", "business_name", "Business Name", "LINK", "first_name"])
def test_a_reserved_name_cannot_be_kept_as_a_custom_field_on_import(tenant, members, tmp_path, settings, name):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    source = tmp_path / "file.csv"
    source.write_text(f"Mobile,{name}\n0412345678,https://evil.example\n")
    imp = contact_services.contact_import_upload(
        tenant=tenant, actor=members["staff"], source=source, original_name="file.csv"
    )
    data = {
        "col_0": "phone",
        "col_1": "custom",
        "consent_mode": "declaration",
        "consent_kind": "express",
        "consent_source": "web form",
        "consent_captured_at": "2026-01-01T10:00",
    }
    response = client_for(members["staff"]).post(reverse("contacts:import", args=[imp.pk]), data)
    assert response.status_code == 400
    assert f"“{name}” is a name the product fills in itself" in response.content.decode()
    imp.refresh_from_db()
    assert imp.custom_columns == [] and imp.status == "uploaded"


def test_the_contact_form_says_so_too(tenant, members):
    client = client_for(members["staff"])
    data = {"phone": "0412 345 670", "custom_fields": "link: https://evil.example\nfavourite_cake: lamington"}
    response = client.post(reverse("contacts:create"), data)
    assert response.status_code == 400
    assert "“link” is a name the product fills in itself" in response.content.decode()
    data["custom_fields"] = "favourite_cake: lamington"
    assert client.post(reverse("contacts:create"), data).status_code == 302
    assert Contact.objects.get(tenant=tenant).custom_fields == {"favourite_cake": "lamington"}


def test_the_model_refuses_them_whichever_way_in(tenant):
    with pytest.raises(ValidationError):
        contact_services.contact_create(
            tenant=tenant, actor=None, phone=mobile(9), custom_fields={"Business-Name": "Totally Legit Bank"}
        )
