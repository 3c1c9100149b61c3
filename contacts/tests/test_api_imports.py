"""/api/v1/imports/: the import page's way through (upload, dry run, rejected rows, commit) for
API clients: who may do what, other tenants' imports are 404, hostile uploads are refused."""

import codecs
import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.models import ConsentRecord, ConsentStatus, Contact, ContactImport
from contacts.tests.factories import ContactFactory, DoNotContactFactory
from tenants.models import IdempotencyRecord
from tenants.testing import api_client, assert_api_hidden, assert_api_roles, client_for

pytestmark = pytest.mark.django_db

LIST = "/api/v1/imports/"
IMPORTERS = ["staff", "admin"]

# Eight rows, one of each fate (with the DNC entry and Olga of ``known_numbers``).
GOOD_CSV = (
    b"Mobile,First Name,Last Name,Email\r\n"
    b"0412 100 001,Ada,Lovelace,ada@example.com\r\n"
    b"0412 100 002,Grace,Hopper,\r\n"
    b"0412100001,Ada,Again,\r\n"  # row 3: row 1's number again
    b"02 9876 5432,Land,Line,\r\n"  # row 4: a landline
    b"not a phone,Bad,Row,\r\n"  # row 5
    b"+61 412 100 003,Alan,Turing,\r\n"
    b"0412 100 004,Dee,Ency,\r\n"  # row 7: on the do-not-contact list
    b"0412 100 005,Olga,Updated,\r\n"  # row 8: an existing contact
)
DECLARATION = {
    "consent_mode": "declaration",
    "consent_kind": "express",
    "consent_source": "sign-up form at the counter",
    "consent_captured_at": "2024-06-01T10:00:00+10:00",
    "consent_evidence": "paper forms kept in the office",
    "add_tags": "imported, autumn",
}


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploads and rejected-row files go to a directory of this test's own."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def known_numbers(tenant):
    ContactFactory(tenant=tenant, phone_e164="+61412100005", first_name="Olga", last_name="Old")
    DoNotContactFactory(tenant=tenant, phone_e164="+61412100004")


def csv_file(content: bytes = GOOD_CSV, name: str = "customers.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def url(contact_import, action: str = "") -> str:
    return f"{LIST}{contact_import.pk}/" + (f"{action}/" if action else "")


def stored_files(settings) -> list[Path]:
    return sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file())


def uploaded(tenant, content: bytes = GOOD_CSV) -> ContactImport:
    return services.contact_import_upload_file(tenant=tenant, actor=None, upload=csv_file(content))


def previewed(tenant) -> ContactImport:
    """An import whose dry run has finished (the task body run directly: set-up, not under test)."""
    contact_import = uploaded(tenant)
    services.contact_import_configure(
        contact_import=contact_import,
        actor=None,
        mapping=contact_import.mapping,
        custom_columns=[],
        add_tags=[],
        consent_mode="declaration",
        consent_kind="express",
        consent_source="sign-up form",
        consent_captured_at=timezone.now() - timedelta(days=30),
    )
    services.contact_import_run_preview(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    return contact_import


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


# --- roles and tenants --------------------------------------------------------------------------


def test_every_role_reads_and_only_importers_write(tenant, api_keys):
    contact_import = previewed(tenant)
    assert_api_roles(LIST, keys=api_keys, allowed=["viewer", *IMPORTERS])
    assert_api_roles(url(contact_import), keys=api_keys, allowed=["viewer", *IMPORTERS])
    # The rejected rows are people who were not imported: the page keeps them for importers too.
    assert_api_roles(url(contact_import, "rejected"), keys=api_keys, allowed=IMPORTERS)
    assert_api_roles(
        LIST, keys=api_keys, allowed=IMPORTERS, method="post", data=lambda: {"file": csv_file()}, format="multipart"
    )
    assert ContactImport.objects.filter(status="uploaded").count() == 2
    assert_api_roles(
        lambda: url(uploaded(tenant), "configure"), keys=api_keys, allowed=IMPORTERS, method="post", data=DECLARATION
    )
    assert_api_roles(lambda: url(previewed(tenant), "commit"), keys=api_keys, allowed=IMPORTERS, method="post")
    assert_api_roles(lambda: url(previewed(tenant), "discard"), keys=api_keys, allowed=IMPORTERS, method="post")
    assert ContactImport.objects.filter(status="previewing").count() == 2
    assert ContactImport.objects.filter(status="committing").count() == 2
    assert ContactImport.objects.filter(status="discarded").count() == 2


def test_another_tenants_import_is_404_and_unchanged(tenant, other_api_key):
    contact_import = previewed(tenant)
    for action, method, data in (
        ("", "get", None),
        ("rejected", "get", None),
        ("configure", "post", DECLARATION),
        ("commit", "post", None),
        ("discard", "post", None),
    ):
        assert_api_hidden(url(contact_import, action), key=other_api_key, method=method, data=data)
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.PREVIEWED
    assert api_client(other_api_key).get(LIST).json()["results"] == []


# --- the way through ----------------------------------------------------------------------------


def test_upload_preview_rejected_rows_and_commit(
    tenant, api_keys, members, known_numbers, django_capture_on_commit_callbacks
):
    client = api_client(api_keys["staff"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(LIST, {"file": csv_file(), **DECLARATION}, format="multipart")
    assert response.status_code == 202 and len(callbacks) == 1  # the dry run, a task, after the commit
    contact_import = ContactImport.objects.get(tenant=tenant)
    assert response["Location"] == url(contact_import)
    assert response.json()["status"] == "previewing"

    body = client.get(url(contact_import)).json()
    assert (body["status"], body["status_label"]) == ("previewed", "Preview ready")
    assert body["preview"]["counts"] == {
        "create": 3,
        "update": 1,
        "unchanged": 0,
        "duplicate": 1,
        "invalid_phone": 1,
        "not_mobile": 1,
        "missing_consent": 0,
        "dnc": 1,
        "accepted": 4,
        "rejected": 4,
    }
    assert body["preview"]["outside_au"] == {"count": 0, "countries": [], "rows": []}
    assert body["preview"]["rejected_rows_available"] is True
    assert body["progress"] == {
        "running": False,
        "rows_done": 8,
        "rows_total": 8,
        "percent": 100.0,
        "rows_per_second": body["progress"]["rows_per_second"],
        "seconds_left": None,
    }
    assert body["result"] is None and body["editable"] is True
    assert body["mapping"] == {
        "Mobile": "phone",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
    }
    assert (body["consent_kind"], body["add_tags"]) == ("express", ["imported", "autumn"])
    assert body["preview_rows"][0] == {
        "row": 1,
        "phone_e164": "+61412100001",
        "phone_as_written": None,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "outcome": "create",
        "reason": "new contact",
    }
    assert body["preview_rows"][4]["phone_e164"] is None
    assert body["preview_rows"][4]["phone_as_written"] == "not a phone"
    assert not Contact.objects.filter(phone_e164="+61412100001").exists(), "a dry run writes no contacts"

    # The rejected rows: the very file the page offers.
    rejected = client.get(url(contact_import, "rejected"), HTTP_ACCEPT="text/csv")
    assert rejected.status_code == 200 and rejected["Content-Type"] == "text/csv"
    assert 'filename="customers-rejected-rows.csv"' in rejected["Content-Disposition"]
    page = client_for(members["staff"]).get(reverse("contacts:import_rejected", args=[contact_import.pk]))
    content = b"".join(rejected.streaming_content)
    assert content == b"".join(page.streaming_content)
    header, *rows = csv_rows(content)
    assert header == ["Mobile", "First Name", "Last Name", "Email", "row", "outcome", "reason"]
    assert [(row[4], row[5]) for row in rows] == [
        ("3", "Duplicate in file"),
        ("4", "Not a mobile number"),
        ("5", "Not a valid phone number"),
        ("7", "On the do-not-contact list"),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(contact_import, "commit"))
    assert response.status_code == 202 and response.json()["status"] == "committing"
    body = client.get(url(contact_import)).json()
    assert body["status"] == "committed" and body["editable"] is False
    assert body["result"]["counts"]["create"] == 3 and body["result"]["counts"]["update"] == 1
    assert body["result"]["committed_rows"] == 8 and body["result"]["data_changed"] is False
    ada = Contact.objects.get(tenant=tenant, phone_e164="+61412100001")
    assert (ada.first_name, ada.tags, ada.consent_status) == ("Ada", ["imported", "autumn"], ConsentStatus.EXPRESS)
    assert ConsentRecord.objects.filter(source_import=contact_import).count() == 4

    again = client.post(url(contact_import, "commit"))
    assert again.status_code == 409
    assert again.json() == {"code": "conflict", "message": "This import is imported: preview it first.", "fields": {}}


def test_an_upload_without_settings_waits_for_them(tenant, api_keys, django_capture_on_commit_callbacks):
    client = api_client(api_keys["staff"])
    content = b"Phone,Name,Favourite loaf,link\r\n0412 100 001,Ada,Rye,https://x.example\r\n"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(LIST, {"file": csv_file(content, "shop.csv")}, format="multipart")
    assert response.status_code == 201 and callbacks == []
    body = response.json()
    assert (body["status"], body["original_name"], body["preview"]) == ("uploaded", "shop.csv", None)
    assert body["headers"] == ["Phone", "Name", "Favourite loaf", "link"]
    assert body["mapping"] == {"Phone": "phone", "Name": "full_name", "Favourite loaf": "", "link": ""}
    assert body["sample_rows"] == [["0412 100 001", "Ada", "Rye", "https://x.example"]]
    assert body["created_by"] is None  # the test keys were made by nobody

    detail = url(ContactImport.objects.get(pk=body["id"]), "configure")
    settings_ = {**DECLARATION, "add_tags": ["shop"], "mapping": {"link": "custom"}}
    refused = client.post(detail, settings_, format="json")
    assert refused.status_code == 400
    assert "“link” is a name the product fills in itself" in refused.json()["fields"]["mapping"][0]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(detail, {**settings_, "mapping": {"Favourite loaf": "custom"}}, format="json")
    assert response.status_code == 202
    body = client.get(url(ContactImport.objects.get(pk=body["id"]))).json()
    assert body["status"] == "previewed" and body["preview"]["counts"]["create"] == 1
    assert body["mapping"] == {"Phone": "phone", "Name": "full_name", "Favourite loaf": "custom", "link": ""}
    assert body["add_tags"] == ["shop"]


@pytest.mark.parametrize(
    ("settings_", "field", "words"),
    [
        ({"consent_captured_at": ""}, "consent_captured_at", "Say when consent was obtained."),
        ({"consent_kind": ""}, "consent_kind", "Say how consent was obtained"),
        ({"consent_kind": "maybe"}, "consent_kind", "is not a valid choice"),
        ({"consent_mode": "column"}, "consent_mode", "Choose the column that says whether each person consented."),
        ({"mapping": {"Nope": "phone"}}, "mapping", "Choose exactly one column for the phone number."),
        ({"mapping": {"Mobile": "shoe_size"}}, "mapping", "Not a field for 'Mobile'"),
        ({"mapping": ["Mobile"]}, "mapping", "Give an object of column header → field."),
        ({"consent_captured_at": "2999-01-01T00:00:00Z"}, "consent_captured_at", "cannot be dated in the future"),
        ({"consent_captured_at": "last Tuesday"}, "consent_captured_at", "Datetime has wrong format"),
    ],
)
def test_refused_settings_are_a_400_naming_the_field(tenant, api_keys, settings_, field, words):
    contact_import = uploaded(tenant)
    data = {**DECLARATION, "add_tags": [], **settings_}
    if data["consent_captured_at"] == "":
        data["consent_captured_at"] = None
    response = api_client(api_keys["staff"]).post(url(contact_import, "configure"), data, format="json")
    assert response.status_code == 400, response.json()
    assert words in " ".join(response.json()["fields"][field])
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.UPLOADED


def test_a_time_without_an_offset_is_the_business_s(tenant, api_keys):
    contact_import = uploaded(tenant)
    data = {**DECLARATION, "add_tags": [], "consent_captured_at": "2024-06-01T10:00:00"}
    assert api_client(api_keys["staff"]).post(url(contact_import, "configure"), data, format="json").status_code == 202
    contact_import.refresh_from_db()
    assert contact_import.consent_captured_at == datetime(2024, 6, 1, 10, tzinfo=tenant.zone)


def test_wrong_states_are_409(tenant, api_keys):
    client = api_client(api_keys["staff"])
    waiting = uploaded(tenant)
    response = client.post(url(waiting, "commit"))
    assert response.status_code == 409
    assert response.json()["message"] == "This import is uploaded: map the columns: preview it first."
    assert client.get(url(waiting, "rejected")).status_code == 404

    done = previewed(tenant)
    services.contact_import_commit(contact_import=done, actor=None)
    services.contact_import_run_commit(import_id=done.pk)
    for action, data in (("configure", DECLARATION), ("discard", None)):
        response = client.post(url(done, action), data, format="json")
        assert response.status_code == 409 and response.json()["code"] == "conflict", action
    done.refresh_from_db()
    assert done.status == ContactImport.Status.COMMITTED


def test_discard_drops_the_file_and_the_preview(tenant, api_keys, settings, django_capture_on_commit_callbacks):
    contact_import = previewed(tenant)
    assert stored_files(settings)
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the discard is committed
        response = api_client(api_keys["staff"]).post(url(contact_import, "discard"))
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert response.json()["preview"]["rejected_rows_available"] is False
    assert stored_files(settings) == []


# --- hostile uploads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"PK\x03\x04" + b"\x00" * 200, "contacts.xlsx", "Excel"),
        (b"%PDF-1.7\n" + b"\x00\x01" * 100, "contacts.pdf", "PDF"),
        (b"Name,Town\r\nAda,Perth\r\n", "no-phones.csv", "No column holds phone numbers"),
        (b"", "empty.csv", "The submitted file is empty."),
    ],
)
def test_a_file_that_is_not_a_contact_csv_is_refused_naming_file(tenant, api_keys, settings, content, name, words):
    response = api_client(api_keys["staff"]).post(LIST, {"file": csv_file(content, name)}, format="multipart")
    assert response.status_code == 400
    assert words in " ".join(response.json()["fields"]["file"])
    assert not ContactImport.objects.exists() and stored_files(settings) == []


def test_no_file_is_refused_naming_file(api_keys):
    response = api_client(api_keys["staff"]).post(LIST, {"consent_mode": "declaration"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["fields"]


def test_an_upload_over_the_limit_stops_being_read(tenant, api_keys, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 10_000
    big = b"Mobile\r\n" + b"0412345678\r\n" * 2_000
    response = api_client(api_keys["staff"]).post(LIST, {"file": csv_file(big)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["fields"]["file"][0].startswith("The file is larger than 9.8 KB")
    assert not ContactImport.objects.exists() and stored_files(settings) == []


def test_an_upload_whose_settings_are_refused_keeps_nothing(tenant, api_keys, settings):
    data = {"file": csv_file(), **DECLARATION, "mapping": json.dumps({"Email": "phone"})}
    response = api_client(api_keys["staff"]).post(LIST, data, format="multipart")
    assert response.status_code == 400
    assert response.json()["fields"] == {"mapping": ["Choose exactly one column for the phone number."]}
    assert not ContactImport.objects.exists() and stored_files(settings) == []


# --- idempotency --------------------------------------------------------------------------------


def test_upload_and_commit_honour_the_idempotency_key(tenant, api_keys, settings, django_capture_on_commit_callbacks):
    client = api_client(api_keys["staff"])
    first = client.post(LIST, {"file": csv_file()}, format="multipart", HTTP_IDEMPOTENCY_KEY="up-1")
    again = client.post(LIST, {"file": csv_file()}, format="multipart", HTTP_IDEMPOTENCY_KEY="up-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert ContactImport.objects.count() == 1
    assert len(stored_files(settings)) == 1, "the replayed request's file is not kept"
    other = client.post(LIST, {"file": csv_file(GOOD_CSV + b"0412 100 009,X,Y,\r\n")}, HTTP_IDEMPOTENCY_KEY="up-1")
    assert other.status_code == 422 and ContactImport.objects.count() == 1

    contact_import = previewed(tenant)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = client.post(url(contact_import, "commit"), HTTP_IDEMPOTENCY_KEY="commit-1")
        again = client.post(url(contact_import, "commit"), HTTP_IDEMPOTENCY_KEY="commit-1")
    assert first.status_code == again.status_code == 202 and again.json() == first.json()
    assert len(callbacks) == 1, "the import was started once"
    assert IdempotencyRecord.objects.count() == 2


# --- the list -----------------------------------------------------------------------------------


def test_the_list_filters_by_status_and_reads_no_stored_rows(tenant, api_keys):
    client = api_client(api_keys["viewer"])
    done = previewed(tenant)
    uploaded(tenant)
    client.get(LIST)  # the key's first use records it (once a minute)
    with CaptureQueriesContext(connection) as few:
        response = client.get(LIST, {"status": "previewed"})
    assert [row["id"] for row in response.json()["results"]] == [done.pk]
    assert response.json()["results"][0]["preview"]["counts"]["accepted"] == 5
    for _ in range(5):
        previewed(tenant)
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST, {"page_size": 3})
    assert len(many) == len(few), "a query per import"
    assert len(response.json()["results"]) == 3 and response.json()["next"]
    listing = [query["sql"] for query in many.captured_queries if "contacts_contactimport" in query["sql"]]
    assert listing and all("sample_rows" not in sql and "preview_rows" not in sql for sql in listing)

    refused = client.get(LIST, {"status": "done"})
    assert refused.status_code == 400 and "status" in refused.json()["fields"]
