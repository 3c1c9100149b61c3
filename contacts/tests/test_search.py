"""Contact search ignores accents and case on every write path; the list shows its total and says when
nothing matches; the rejected rows keep what the person wrote."""

import html
import importlib
import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import require_service
from contacts import selectors, services
from contacts.models import Contact, ContactImport
from contacts.searchtext import fold
from contacts.tests.factories import ContactFactory, DoNotContactFactory
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def listed_names(client, **params) -> set[str]:
    response = client.get(reverse("contacts:list"), params)
    assert response.status_code == 200
    prefix = re.escape(reverse("contacts:list"))
    found = re.findall(rf'<td><a href="{prefix}\d+/">([^<]*)</a></td>', response.content.decode())
    return {html.unescape(name) for name in found}


def page_text(client, url, **params) -> str:
    """The page's words as a person reads them: tags dropped, entities decoded, spaces collapsed."""
    response = client.get(url, params)
    assert response.status_code == 200
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def run_import(tenant, user, tmp_path, content: bytes, *, tags=()) -> ContactImport:
    """Upload, preview and commit a file (the task bodies run directly)."""
    source = tmp_path / f"{uuid.uuid4().hex}.csv"
    source.write_bytes(content)
    imp = services.contact_import_upload(tenant=tenant, actor=user, source=source, original_name="people.csv")
    services.contact_import_configure(
        contact_import=imp,
        actor=user,
        mapping=imp.mapping,
        custom_columns=[],
        add_tags=list(tags),
        consent_mode="declaration",
        consent_kind="express",
        consent_source="sign-up form",
        consent_captured_at=timezone.now() - timedelta(days=3),
    )
    services.contact_import_run_preview(import_id=imp.pk)
    services.contact_import_commit(contact_import=imp, actor=user)
    services.contact_import_run_commit(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.COMMITTED
    return imp


# --- folding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Zoë", "zoe"),
        ("ZOË", "zoe"),
        ("Zoe\u0308", "zoe"),  # a separate combining diaeresis, as macOS writes it
        ("Ｚｏｅ", "zoe"),  # full-width
        ("Renée  O'Brien", "renee o'brien"),
        ("Straße", "strasse"),
        ("Søren Łukasz", "soren lukasz"),
        ("İlker", "ilker"),
        ("Nguyễn", "nguyen"),
        ("", ""),
    ],
)
def test_fold_drops_accents_case_and_width(typed, folded):
    assert fold(typed) == folded


# --- the search -----------------------------------------------------------------------------


def test_search_ignores_accents_and_case_both_ways(tenant, members):
    ContactFactory(tenant=tenant, first_name="Zoë", last_name="Adams")
    ContactFactory(tenant=tenant, first_name="Zoe", last_name="Brown")
    ContactFactory(tenant=tenant, first_name="Chloé", last_name="Zoellner")
    ContactFactory(tenant=tenant, first_name="Mia", last_name="Renée", email="ÉMILE@Example.com")
    viewer = client_for(members["viewer"])

    assert listed_names(viewer, q="zoe") == {"Zoë Adams", "Zoe Brown", "Chloé Zoellner"}
    assert listed_names(viewer, q="ZOË") == {"Zoë Adams", "Zoe Brown", "Chloé Zoellner"}
    assert listed_names(viewer, q="Zoë A") == {"Zoë Adams"}
    assert listed_names(viewer, q="zoe b") == {"Zoe Brown"}
    assert listed_names(viewer, q="chloe") == {"Chloé Zoellner"}
    assert listed_names(viewer, q="RENEE") == {"Mia Renée"}
    assert listed_names(viewer, q="emile@") == {"Mia Renée"}
    assert listed_names(viewer, q="loe") == set()  # the start of a word, not any substring
    assert listed_names(viewer, q="100%") == set()  # LIKE wildcards are literal


def test_a_name_matching_very_many_contacts_is_still_found(tenant, members, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_LITERAL_MAX", 1)  # past it, the list filters by the columns
    ContactFactory(tenant=tenant, first_name="Zoë", last_name="Adams")
    ContactFactory(tenant=tenant, first_name="ZOE", last_name="Brown")
    ContactFactory(tenant=tenant, first_name="Ann", last_name="Lee")
    assert listed_names(client_for(members["viewer"]), q="zoe") == {"Zoë Adams", "ZOE Brown"}


def test_search_key_follows_edits_through_the_service_and_the_admin_save(tenant, members):
    contact = ContactFactory(tenant=tenant, first_name="Zoe", last_name="Brown")
    services.contact_update(contact=contact, actor=members["staff"], first_name="Anaïs")
    viewer = client_for(members["viewer"])
    assert listed_names(viewer, q="anais") == {"Anaïs Brown"}
    assert listed_names(viewer, q="zoe") == set()

    contact.refresh_from_db()
    contact.last_name = "Müller"
    contact.save(update_fields=["last_name"])
    stored = Contact.objects.values_list(*Contact.SEARCH_COLUMNS).get(pk=contact.pk)
    assert stored == ("anais muller", "muller anais", "")


def test_imported_contacts_are_found_without_accents_created_and_updated(tenant, members, tmp_path):
    ContactFactory(
        tenant=tenant, first_name="Old", last_name="Name", email="kept@example.com", phone_e164="+61412100005"
    )
    run_import(
        tenant,
        members["staff"],
        tmp_path,
        "Mobile,First Name,Last Name,Email\r\n"
        "0412 100 001,Zoë,Œuvray,\r\n"
        "0412 100 005,Renée,,\r\n".encode(),  # an update: the empty cells keep the stored last name and e-mail
    )
    viewer = client_for(members["viewer"])
    assert listed_names(viewer, q="zoe oeuv") == {"Zoë Œuvray"}
    assert listed_names(viewer, q="renee n") == {"Renée Name"}
    assert listed_names(viewer, q="kept@") == {"Renée Name"}
    stored = Contact.objects.values_list(*Contact.SEARCH_COLUMNS).get(phone_e164="+61412100005")
    assert stored == ("renee name", "name renee", "kept@example.com")


def test_the_migration_fills_the_key_of_existing_contacts(tenant):
    zoe = ContactFactory(tenant=tenant, first_name="ZOË", last_name="Ng", email="Z@Example.com")
    Contact.objects.filter(pk=zoe.pk).update(search_name="", search_surname="", search_email="")
    migration = importlib.import_module("contacts.migrations.0004_contact_search_key_import_discarded")
    migration.fill_search_keys(None, SimpleNamespace(connection=connection))
    stored = Contact.objects.values_list(*Contact.SEARCH_COLUMNS).get(pk=zoe.pk)
    assert stored == ("zoe ng", "ng zoe", "z@example.com")


def test_a_search_is_an_index_range_scan_on_postgresql(tenant):
    require_service("PostgreSQL", connection.vendor == "postgresql", "the search indexes exist on PostgreSQL only")
    # 30,000 contacts (written the fast way, with their search columns), so the planner sees a
    # tenant too big to walk: the search must read its three indexes, not every contact.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (tenant_id, phone_e164, first_name, last_name, email, timezone, state,"
            " postcode, custom_fields, tags, consent_status, undeliverable, undeliverable_reason, created_at,"
            " updated_at, search_name, search_surname, search_email)"
            " SELECT %s, '+614' || (12000000 + n), 'Pat' || n, 'Citizen', '', '', '', '', '{}', '[]', 'none', FALSE,"
            " '', now(), now(), 'pat' || n || ' citizen', 'citizen pat' || n, ''"
            " FROM generate_series(1, 30000) AS n",
            [tenant.pk],
        )
        cursor.execute("ANALYZE contacts_contact")
        with CaptureQueriesContext(connection) as searched:
            selectors.contacts_for(tenant=tenant, q="Zoë")
        (search,) = searched.captured_queries  # the matching ids, read before the page
        cursor.execute("EXPLAIN " + search["sql"])
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert all(f"contact_{column}" in plan for column in Contact.SEARCH_COLUMNS), plan
    assert "Seq Scan on contacts_contact" not in plan


# --- the total and the empty list -----------------------------------------------------------


def test_the_list_shows_its_total_and_the_total_of_a_search(tenant, members):
    for name in ("Zoë", "Zoe", "Ann"):
        ContactFactory(tenant=tenant, first_name=name)
    viewer = client_for(members["viewer"])
    assert "3 contacts" in page_text(viewer, reverse("contacts:list"))
    assert "2 contacts match" in page_text(viewer, reverse("contacts:list"), q="zoe")
    assert "1 contact matches" in page_text(viewer, reverse("contacts:list"), q="ann")


def test_past_the_cap_without_an_estimate_the_total_says_more_than(tenant, members, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_EXACT_UP_TO", 3)
    for _ in range(5):
        ContactFactory(tenant=tenant)
    monkeypatch.setattr(selectors, "planner_estimate", lambda queryset: None)  # as on SQLite
    assert selectors.list_total(selectors.contacts_for(tenant=tenant)) == selectors.Total(4, more_than=3)
    assert "More than 3 contacts" in page_text(client_for(members["viewer"]), reverse("contacts:list"))


def test_a_large_total_on_postgresql_is_the_planners_estimate_labelled_about(tenant, members, monkeypatch):
    require_service("PostgreSQL", connection.vendor == "postgresql", "the planner's estimate is PostgreSQL's")
    monkeypatch.setattr(selectors, "COUNT_EXACT_UP_TO", 1_000)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (tenant_id, phone_e164, first_name, last_name, email, timezone, state,"
            " postcode, custom_fields, tags, consent_status, undeliverable, undeliverable_reason, created_at,"
            " updated_at) SELECT %s, '+614' || (12000000 + n), 'Pat', 'Citizen', '', '', '', '', '{}', '[]', 'none',"
            " FALSE, '', now(), now() FROM generate_series(1, 12000) AS n",
            [tenant.pk],
        )
        cursor.execute("ANALYZE contacts_contact")
    assert selectors.list_total(selectors.contacts_for(tenant=tenant)) == selectors.Total(12_000, estimated=True)
    assert "About 12,000 contacts" in page_text(client_for(members["viewer"]), reverse("contacts:list"))


def test_a_search_without_hits_says_nothing_matches(tenant, members):
    ContactFactory(tenant=tenant, first_name="Zoë")
    viewer = client_for(members["viewer"])
    shown = page_text(viewer, reverse("contacts:list"), q="Xavier")
    assert "No contacts match “Xavier”." in shown and "0 contacts match" in shown
    assert "No contacts match these filters." in page_text(viewer, reverse("contacts:list"), consent="withdrawn")
    DoNotContactFactory(tenant=tenant)
    dnc = page_text(viewer, reverse("contacts:dnc"), q="0499 999 999")
    assert "No numbers on the list match “0499 999 999”." in dnc and "The list is empty" not in dnc


def test_an_empty_list_says_so(other_tenant, members, tenant):
    shown = page_text(client_for(members["viewer"]), reverse("contacts:list"))
    assert "No contacts yet." in shown and "0 contacts" in shown


# --- the rejected rows keep what the person wrote ---------------------------------------------


def test_rejected_rows_keep_the_phone_as_written_and_neutralise_formulas(tenant, members, tmp_path):
    source = tmp_path / "people.csv"
    source.write_bytes(
        b"Mobile,First Name,Last Name\r\n"
        b"+61 2 9876 5432,Land,Line\r\n"  # a landline: rejected, written as typed
        b'-412,"=HYPERLINK(""http://evil"")",@SUM(A1)\r\n'  # not a phone: rejected; formulas neutralised
    )
    staff = members["staff"]
    imp = services.contact_import_upload(tenant=tenant, actor=staff, source=source, original_name="people.csv")
    services.contact_import_configure(
        contact_import=imp,
        actor=staff,
        mapping=imp.mapping,
        custom_columns=[],
        add_tags=[],
        consent_mode="declaration",
        consent_kind="express",
        consent_source="sign-up form",
        consent_captured_at=timezone.now() - timedelta(days=3),
    )
    services.contact_import_run_preview(import_id=imp.pk)
    response = client_for(staff).get(reverse("contacts:import_rejected", args=[imp.pk]))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = body.split("\r\n")
    assert lines[1].startswith("+61 2 9876 5432,Land,Line,1,")
    assert lines[2].startswith('-412,"\'=HYPERLINK(""http://evil"")",\'@SUM(A1),2,')
