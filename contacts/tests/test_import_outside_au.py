"""The importer keeps numbers outside Australia but says which rows they are (issue 16, item 2)."""

import html
import re

import pytest
from django.urls import reverse

from contacts.models import Contact
from contacts.tests.test_imports import run_import, write_csv
from tenants.testing import client_for

pytestmark = pytest.mark.django_db

FILE = (
    "Ana,Kiwi,+64 21 123 4567,,,,,\n"
    "Bea,Local,0412 345 678,,NSW,2000,,\n"
    "Cal,Pom,+44 7400 123456,,,,,\n"
    "Dee,Local,0412 345 679,,,,,\n"
    "Eve,Kiwi,+64 21 765 4321,,,,,\n"
    "Bad,Number,12345,,,,,\n"  # rejected: not counted as outside Australia
)


def words(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.unescape(response.content.decode())))


def test_preview_and_result_count_and_list_the_rows_outside_australia(tenant, owner, tmp_path):
    contact_import = run_import(tenant, write_csv(tmp_path, FILE), commit=False)
    assert contact_import.outside_au == {
        "count": 3,
        "countries": [["NZ", 2], ["GB", 1]],
        "rows": [[1, "NZ"], [3, "GB"], [5, "NZ"]],
    }
    url = reverse("contacts:import", args=[contact_import.pk])
    page = words(client_for(owner).get(url))
    assert "3 rows to import have numbers outside Australia (NZ 2, GB 1)" in page
    assert "Rows: 1 (NZ), 3 (GB), 5 (NZ)." in page

    contact_import = run_import(tenant, write_csv(tmp_path, FILE, name="again.csv"))
    assert contact_import.outside_au["count"] == 3
    result = client_for(owner).get(reverse("contacts:import", args=[contact_import.pk]))
    assert "3 rows imported have numbers outside Australia (NZ 2, GB 1)" in words(result)
    # Kept: they are contacts like any other.
    assert Contact.objects.filter(tenant=tenant, phone_e164__startswith="+64").count() == 2


def test_an_all_australian_file_says_nothing(tenant, owner, tmp_path):
    contact_import = run_import(tenant, write_csv(tmp_path, "Bea,Local,0412 345 678,,NSW,2000,,\n"), commit=False)
    assert contact_import.outside_au == {}
    assert "outside Australia" not in words(client_for(owner).get(reverse("contacts:import", args=[contact_import.pk])))
