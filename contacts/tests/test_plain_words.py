"""Why a number is refused, and what an import does with each row, in words rather than codes."""

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.urls import reverse

from contacts.models import Contact, ContactImport
from contacts.phones import phone_problem
from tenants.testing import client_for

pytestmark = pytest.mark.django_db

DECLARATION = {
    "col_0": "phone",
    "col_1": "first_name",
    "consent_mode": "declaration",
    "consent_kind": "express",
    "consent_source": "sign-up form at the counter",
    "consent_captured_at": "2024-06-01T10:00",
    "consent_evidence": "paper forms kept in the office",
    "add_tags": "",
}


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def text(response) -> str:
    """The page as a person reads it: tags dropped, entities decoded, whitespace squeezed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("0453 123 456", "0453 is not a range any Australian carrier uses"),
        ("+61 453 123 456", "0453 is not a range any Australian carrier uses"),
        ("0412 345 67", "0412 345 67 has 9 digits: an Australian mobile number has 10 (04xx xxx xxx)"),
        ("04123 456 789", "04123 456 789 has 11 digits: an Australian mobile number has 10 (04xx xxx xxx)"),
        ("0512 345 678", "0512 345 678 is not an Australian phone number: no Australian number starts 05"),
        ("12345", "12345 has 5 digits: too short for a phone number (an Australian mobile has 10: 04xx xxx xxx)"),
        ("+64 99 999", "+64 99 999 is not a valid number for country code +64 (NZ)"),
        ("call me", "call me is not a phone number"),
        ("", "no phone number"),
    ],
)
def test_the_reason_for_an_unusable_number_says_why(typed, why):
    assert phone_problem(typed) == why


def test_adding_a_contact_with_an_unallocated_number_names_the_range(tenant, members):
    response = client_for(members["staff"]).post(
        reverse("contacts:create"), {"phone": "0453 123 456", "first_name": "Typo"}
    )
    assert response.status_code == 400
    assert "Not a valid phone number: 0453 is not a range any Australian carrier uses." in text(response)
    assert not Contact.objects.exists()


def test_import_preview_names_outcomes_and_reasons_in_words(tenant, members, django_capture_on_commit_callbacks):
    staff = client_for(members["staff"])
    upload = SimpleUploadedFile(
        "people.csv", b"Mobile,First Name\r\n0412 100 001,Ada\r\n0453 123 456,Typo\r\n", content_type="text/csv"
    )
    staff.post(reverse("contacts:imports"), {"file": upload})
    imp = ContactImport.objects.get(tenant=tenant)
    url = reverse("contacts:import", args=[imp.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post(url, DECLARATION).status_code == 302
    page = text(staff.get(url))

    assert "Preview ready" in page
    row = re.search(r"\b2 0453 123 456 Typo (.*?) 0453 is not a range any Australian carrier uses", page)
    assert row and row[1].strip() == "Not a valid phone number", page
    assert "Not a valid phone number 1" in page  # the counts table
    assert "invalid_phone" not in page and "'0453 123 456'" not in page


def test_counts_show_thousands_separators():
    rendered = Template("{% load numbers %}{{ n|count }} / {{ small|count }} / {{ none|count }}").render(
        Context({"n": 1234567, "small": 42, "none": None})
    )
    assert rendered == "1,234,567 / 42 / "
