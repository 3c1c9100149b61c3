"""The contact pages' forms as a browser fills and submits them: ISO date-time inputs, and
manual consent recorded only when the person says what kind and when."""

import datetime as dt
import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from contacts import services
from contacts.models import ConsentRecord, ConsentStatus, Contact
from contacts.tests.factories import ContactFactory
from contacts.tests.test_views import uploaded_import
from smscrm.testing.htmlforms import browser_submission
from tenants.testing import client_for

# 05:48 UTC on 5 December 2026 is 16:48 in Sydney (daylight time, UTC+11).
NOW = dt.datetime(2026, 12, 5, 5, 48, 38, tzinfo=dt.UTC)


def text(response) -> str:
    return html.unescape(response.content.decode())


def field_block(page: str, name: str) -> str:
    """One field's markup, from its label to the next field."""
    start = page.index(f'<label for="id_{name}"')
    end = page.find('<div class="field', start)
    return page[start : end if end != -1 else len(page)]


# --- ISO date-time inputs -------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_import_consent_time_is_rendered_as_iso_in_the_business_zone_and_saves_back(tenant, members, tmp_path):
    imp = uploaded_import(tenant, members["staff"], tmp_path)
    imp.consent_mode, imp.consent_kind, imp.consent_source = "declaration", "express", "sign-up sheet"
    imp.consent_captured_at = NOW - timedelta(days=2)  # 3 December, 16:48:38 in Sydney
    imp.save()
    client = client_for(members["staff"])
    url = reverse("contacts:import", args=[imp.pk])
    page = text(client.get(url))
    assert re.search(r'<input type="datetime-local" name="consent_captured_at" value="2026-12-03T16:48"', page)

    data = browser_submission(page, field="consent_captured_at")
    assert data["consent_captured_at"] == "2026-12-03T16:48"
    response = client.post(url, data)

    assert response.status_code == 302, text(response)
    imp.refresh_from_db()
    assert imp.consent_captured_at == dt.datetime(2026, 12, 3, 5, 48, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_a_consent_time_typed_on_the_contact_page_is_shown_back_as_iso(tenant, members):
    """A form sent back with an error keeps the typed time in a value the input accepts."""
    client = client_for(members["staff"])
    response = client.post(
        reverse("contacts:create"),
        {"phone": "12", "kind": "express", "source": "counter", "captured_at": "2026-12-05T09:15"},
    )
    assert response.status_code == 400
    assert '<input type="datetime-local" name="captured_at" value="2026-12-05T09:15"' in text(response)


# --- manual consent: only when its kind and time are given ----------------------------------


def test_add_contact_offers_consent_without_choosing_it_for_the_person(tenant, members):
    page = text(client_for(members["staff"]).get(reverse("contacts:create")))
    kind = field_block(page, "kind")
    assert re.search(r'<option value="" selected>', kind)
    assert 'value="express" selected' not in kind and 'value="inferred" selected' not in kind
    assert re.search(r'<input type="datetime-local" name="captured_at"(?![^>]*value=)', page)
    assert "Consent is recorded only when you choose how it was given and when, and say where." in page
    assert "withdrawn" not in page  # a new contact has no consent to withdraw


def test_add_contact_as_the_browser_submits_it_records_no_consent(tenant, members):
    client = client_for(members["staff"])
    page = text(client.get(reverse("contacts:create")))
    data = browser_submission(page, field="phone") | {"phone": "0412 345 678", "first_name": "Olivia"}
    response = client.post(reverse("contacts:create"), data)
    assert response.status_code == 302, text(response)
    contact = Contact.objects.get(tenant=tenant)
    assert contact.consent_status == ConsentStatus.NONE
    assert not ConsentRecord.objects.filter(contact=contact).exists()


def test_a_consent_source_alone_is_refused_naming_kind_and_time(tenant, members):
    client = client_for(members["staff"])
    page = text(client.get(reverse("contacts:create")))
    data = browser_submission(page, field="phone") | {"phone": "0412 345 678", "source": "counter sign-up"}
    response = client.post(reverse("contacts:create"), data)

    assert response.status_code == 400
    page = text(response)
    assert "Choose how consent was given" in field_block(page, "kind")
    assert "Say when consent was given" in field_block(page, "captured_at")
    assert not Contact.objects.filter(tenant=tenant).exists()
    assert not ConsentRecord.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_consent_with_its_kind_and_time_is_recorded_with_the_contact(tenant, members):
    client = client_for(members["staff"])
    given = {"kind": "inferred", "source": "counter sign-up", "captured_at": "2026-12-05T09:15"}
    response = client.post(reverse("contacts:create"), {"phone": "0412 345 678", **given})
    assert response.status_code == 302, text(response)
    record = ConsentRecord.objects.get(contact__tenant=tenant)
    assert (record.kind, record.source) == ("inferred", "counter sign-up")
    assert record.captured_at == dt.datetime(2026, 12, 4, 22, 15, tzinfo=dt.UTC)  # 09:15 in Sydney


@pytest.mark.parametrize(
    ("consent", "fields"),
    [
        ({"source": "counter"}, {"kind", "captured_at"}),
        ({"kind": "express", "source": "counter"}, {"captured_at"}),
        ({"captured_at": NOW, "source": "counter"}, {"kind"}),
        ({"kind": "express", "captured_at": NOW}, {"source"}),
        ({"evidence": "photo of the form"}, {"kind", "captured_at", "source"}),
    ],
)
def test_the_service_records_consent_only_with_its_kind_and_time(tenant, members, consent, fields):
    full = {"kind": "", "source": "", "captured_at": None, "evidence": ""} | consent
    with pytest.raises(ValidationError) as caught:
        services.contact_create(tenant=tenant, actor=members["staff"], phone="0412 345 678", consent=full)
    assert set(caught.value.error_dict) == fields
    assert not Contact.objects.filter(tenant=tenant).exists()


def test_the_service_adds_a_contact_without_consent_when_no_consent_field_is_filled(tenant, members):
    empty = {"kind": "", "source": "", "captured_at": None, "evidence": ""}
    contact = services.contact_create(tenant=tenant, actor=members["staff"], phone="0412 345 678", consent=empty)
    assert contact.consent_status == ConsentStatus.NONE
    assert not ConsentRecord.objects.filter(contact=contact).exists()


def test_the_contact_page_consent_form_has_no_preset_kind_or_time(tenant, members):
    contact = ContactFactory(tenant=tenant)
    staff = client_for(members["staff"])
    page = text(staff.get(reverse("contacts:detail", args=[contact.pk])))
    data = browser_submission(page, field="captured_at") | {"source": "counter"}
    assert data["kind"] == "" and data["captured_at"] == ""

    page = text(staff.post(reverse("contacts:consent", args=[contact.pk]), data, follow=True))
    assert "Consent not recorded" in page and "Choose how consent was given" in page
    assert not ConsentRecord.objects.filter(contact=contact).exists()
