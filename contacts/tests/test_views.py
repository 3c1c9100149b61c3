"""Every contacts page: who may use it, that other tenants get 404, and what a user sees there."""

import codecs
import csv
import html
import io
import re
import uuid
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.models import (
    ConsentRecord,
    ConsentStatus,
    Contact,
    ContactImport,
    DncReason,
    DoNotContact,
)
from contacts.phones import format_phone_national
from contacts.tests.factories import ContactFactory, DoNotContactFactory
from tenants.models import AuditEvent
from tenants.testing import ALL_ROLES, assert_hidden_from, assert_login_required, assert_roles, client_for

pytestmark = pytest.mark.django_db

STAFF_UP = {"staff", "admin", "owner"}
ADMIN_UP = {"admin", "owner"}

# Eight rows, one of each fate the preview reports (the DNC entry and Olga exist beforehand).
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

# The settings form as a person fills it in: the auto-mapped columns and a declaration.
DECLARATION = {
    "col_0": "phone",
    "col_1": "first_name",
    "col_2": "last_name",
    "col_3": "email",
    "consent_mode": "declaration",
    "consent_kind": "express",
    "consent_source": "sign-up form at the counter",
    "consent_captured_at": "2024-06-01T10:00",
    "consent_evidence": "paper forms kept in the office",
    "add_tags": "imported",
}


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploads and rejected-row files go to a directory of this test's own."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


# --- helpers --------------------------------------------------------------------------------


def text(response) -> str:
    """The page as a person reads it (entities decoded)."""
    return html.unescape(response.content.decode())


def shows(page: str, e164: str, template: str = "{}") -> bool:
    """True when ``page`` shows the number inside ``template``, as stored or as people write it."""
    return any(template.format(form) in page for form in (e164, format_phone_national(e164)))


def listed(response) -> list[tuple[int, str]]:
    """(pk, name) of every contact in the table of a contacts list page, in page order."""
    prefix = re.escape(reverse("contacts:list"))
    pattern = rf'<td><a href="{prefix}(\d+)/">([^<]*)</a></td>'
    return [(int(pk), html.unescape(name)) for pk, name in re.findall(pattern, response.content.decode())]


def names(client, **params) -> set[str]:
    response = client.get(reverse("contacts:list"), params)
    assert response.status_code == 200
    return {name for _, name in listed(response)}


def next_link(response) -> str | None:
    match = re.search(r'<a href="([^"]*)" rel="next">', response.content.decode())
    return html.unescape(match[1]) if match else None


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(codecs.BOM_UTF8), "Excel needs the BOM to read accents right"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def streamed_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment")
    return csv_rows(b"".join(response.streaming_content))


def csv_upload(content: bytes = GOOD_CSV, name: str = "customers.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def mapped_columns(response) -> dict[str, str]:
    """The import page's mapping form: {column header: field selected for it}."""
    body = response.content.decode()
    labels = dict(re.findall(r'<label for="id_(col_\d+)">([^<]*)</label>', body))
    mapping = {}
    for name, options in re.findall(r'<select name="(col_\d+)"[^>]*>(.*?)</select>', body, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', options)
        mapping[html.unescape(labels[name])] = selected[1] if selected else ""
    return mapping


def outcome_counts(response) -> dict[str, int]:
    """The counts table of the import page: {outcome: rows}."""
    pattern = r'<tr class="outcome-(\w+)"><th scope="row">[^<]*</th><td>(\d+)</td></tr>'
    return {outcome: int(n) for outcome, n in re.findall(pattern, response.content.decode())}


def status_label(page: str) -> str:
    """The import page's "Status: …" heading."""
    return re.search(r'Status: <span id="status-label">([^<]*)</span>', page)[1]


def uploaded_import(tenant, user, tmp_path, content: bytes = GOOD_CSV) -> ContactImport:
    source = tmp_path / f"{uuid.uuid4().hex}.csv"
    source.write_bytes(content)
    return services.contact_import_upload(tenant=tenant, actor=user, source=source, original_name="customers.csv")


def previewed_import(tenant, user, tmp_path) -> ContactImport:
    """An import whose dry run has finished (the task body is run directly: set-up, not under test)."""
    contact_import = uploaded_import(tenant, user, tmp_path)
    services.contact_import_configure(
        contact_import=contact_import,
        actor=user,
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
    assert contact_import.status == ContactImport.Status.PREVIEWED
    return contact_import


@pytest.fixture
def world(tenant, members, tmp_path):
    """One of each object the contacts pages act on, in ``tenant``."""
    return SimpleNamespace(
        contact=ContactFactory(tenant=tenant, first_name="Olivia", last_name="Nguyen", phone_e164="+61412345678"),
        entry=DoNotContactFactory(tenant=tenant, phone_e164="+61412999999", reason=DncReason.COMPLAINT),
        imp=previewed_import(tenant, members["staff"], tmp_path),
    )


def url_for(name: str, obj=None) -> str:
    return reverse(name, args=[obj.pk]) if obj is not None else reverse(name)


# --- 1. who may use what --------------------------------------------------------------------

PAGES = [
    # (url name, object it acts on, roles allowed to GET it)
    ("contacts:list", None, ALL_ROLES),
    ("contacts:create", None, STAFF_UP),
    ("contacts:detail", "contact", ALL_ROLES),
    ("contacts:edit", "contact", STAFF_UP),
    ("contacts:delete", "contact", ADMIN_UP),
    ("contacts:export", None, ADMIN_UP),
    ("contacts:dnc", None, ALL_ROLES),
    ("contacts:dnc_export", None, ADMIN_UP),
    ("contacts:dnc_remove", "entry", ADMIN_UP),
    ("contacts:imports", None, ALL_ROLES),
    ("contacts:import", "imp", ALL_ROLES),
    ("contacts:import_progress", "imp", ALL_ROLES),
    ("contacts:import_rejected", "imp", STAFF_UP),
]
POST_ONLY = [("contacts:consent", "contact"), ("contacts:import_commit", "imp")]


def test_anonymous_visitors_are_sent_to_login(world):
    for name, target, *_ in [*PAGES, *POST_ONLY]:
        url = url_for(name, getattr(world, target) if target else None)
        assert_login_required(url)
        assert_login_required(url, method="post")
    assert Contact.objects.count() == 1 and DoNotContact.objects.count() == 1


@pytest.mark.parametrize(("name", "target", "allowed"), PAGES, ids=[p[0] for p in PAGES])
def test_pages_by_role(name, target, allowed, world, members):
    assert_roles(url_for(name, getattr(world, target) if target else None), members=members, allowed=allowed)


def test_adding_contacts_by_role(tenant, members):
    phones = iter(f"0412 200 00{i}" for i in range(len(ALL_ROLES)))
    assert_roles(
        reverse("contacts:create"),
        members=members,
        allowed=STAFF_UP,
        method="post",
        data=lambda: {"phone": next(phones), "first_name": "New"},
    )
    assert Contact.objects.filter(tenant=tenant).count() == 3  # not the viewer's


def test_editing_contacts_by_role(world, members):
    roles = iter(ALL_ROLES)
    assert_roles(
        url_for("contacts:edit", world.contact),
        members=members,
        allowed=STAFF_UP,
        method="post",
        data=lambda: {"phone": world.contact.phone_e164, "first_name": next(roles)},
    )
    world.contact.refresh_from_db()
    assert world.contact.first_name == "owner"


def test_deleting_contacts_by_role(tenant, members):
    assert_roles(
        lambda: url_for("contacts:delete", ContactFactory(tenant=tenant)),
        members=members,
        allowed=ADMIN_UP,
        method="post",
    )
    assert Contact.objects.filter(tenant=tenant).count() == 2  # the viewer's and the staff member's attempts


def test_recording_consent_by_role(world, members):
    data = {"kind": "express", "source": "sign-up sheet", "captured_at": "2025-01-10T09:30"}
    assert_roles(
        url_for("contacts:consent", world.contact), members=members, allowed=STAFF_UP, method="post", data=data
    )
    assert ConsentRecord.objects.filter(contact=world.contact).count() == 3


def test_do_not_contact_changes_by_role(tenant, members):
    numbers = iter(f"0412 300 00{i}" for i in range(len(ALL_ROLES)))
    assert_roles(
        reverse("contacts:dnc"),
        members=members,
        allowed=ADMIN_UP,
        method="post",
        data=lambda: {"numbers": next(numbers), "reason": "manual"},
    )
    assert DoNotContact.objects.filter(tenant=tenant).count() == 2

    assert_roles(
        lambda: url_for("contacts:dnc_remove", DoNotContactFactory(tenant=tenant)),
        members=members,
        allowed=ADMIN_UP,
        method="post",
        data={"reason": "customer asked to hear from us again"},
    )
    assert DoNotContact.objects.filter(tenant=tenant).count() == 2 + 2  # viewer's and staff's entries stay


def test_imports_by_role(tenant, members, tmp_path):
    assert_roles(
        reverse("contacts:imports"),
        members=members,
        allowed=STAFF_UP,
        method="post",
        data=lambda: {"file": csv_upload()},
    )
    assert ContactImport.objects.filter(tenant=tenant).count() == 3

    assert_roles(
        lambda: url_for("contacts:import", uploaded_import(tenant, members["staff"], tmp_path)),
        members=members,
        allowed=STAFF_UP,
        method="post",
        data=DECLARATION,
    )
    assert ContactImport.objects.filter(status=ContactImport.Status.PREVIEWING).count() == 3

    assert_roles(
        lambda: url_for("contacts:import_commit", previewed_import(tenant, members["staff"], tmp_path)),
        members=members,
        allowed=STAFF_UP,
        method="post",
    )
    statuses = list(ContactImport.objects.filter(previewed_at__isnull=False).values_list("status", flat=True))
    assert sorted(statuses) == ["committing"] * 3 + ["previewed"]


# --- 2. another tenant's objects are 404 ----------------------------------------------------


def test_other_tenants_objects_are_404_and_nothing_changes(world, tenant, other_owner):
    contact, entry, imp = world.contact, world.entry, world.imp
    audit_before = AuditEvent.objects.filter(tenant=tenant).count()
    attempts = [
        ("contacts:detail", contact, "get", None),
        ("contacts:edit", contact, "get", None),
        ("contacts:edit", contact, "post", {"phone": "0412 666 666", "first_name": "Hijacked"}),
        ("contacts:delete", contact, "get", None),
        ("contacts:delete", contact, "post", None),
        ("contacts:consent", contact, "post", {"kind": "express", "source": "x", "captured_at": "2025-01-10T09:30"}),
        ("contacts:dnc_remove", entry, "get", None),
        ("contacts:dnc_remove", entry, "post", {"reason": "rival says so"}),
        ("contacts:import", imp, "get", None),
        ("contacts:import", imp, "post", DECLARATION),
        ("contacts:import_progress", imp, "get", None),
        ("contacts:import_rejected", imp, "get", None),
        ("contacts:import_commit", imp, "post", None),
    ]
    for name, obj, method, data in attempts:
        assert_hidden_from(url_for(name, obj), user=other_owner, method=method, data=data)

    contact.refresh_from_db()
    assert (contact.first_name, contact.phone_e164, contact.consent_status) == ("Olivia", "+61412345678", "none")
    assert not ConsentRecord.objects.filter(contact=contact).exists()
    assert DoNotContact.objects.filter(pk=entry.pk).exists()
    imp.refresh_from_db()
    assert (imp.status, imp.consent_source) == (ContactImport.Status.PREVIEWED, "sign-up form")
    assert AuditEvent.objects.filter(tenant=tenant).count() == audit_before


# --- 3. adding and editing contacts ---------------------------------------------------------


@pytest.mark.parametrize("typed", ["0412 345 678", "+61 412 345 678", "0412-345-678", "61412345678"])
def test_a_new_contacts_number_is_stored_in_e164_whatever_its_format(typed, tenant, members):
    staff = client_for(members["staff"])
    response = staff.post(reverse("contacts:create"), {"phone": typed, "first_name": "Olivia"}, follow=True)
    contact = Contact.objects.get(tenant=tenant)
    assert contact.phone_e164 == "+61412345678"
    assert response.redirect_chain == [(reverse("contacts:detail", args=[contact.pk]), 302)]
    page = text(response)
    assert "Olivia added." in page and shows(page, "+61412345678")


def test_a_number_that_cannot_take_sms_is_refused_with_the_reason(tenant, members):
    staff = client_for(members["staff"])
    response = staff.post(reverse("contacts:create"), {"phone": "02 9876 5432", "first_name": "Land"})
    assert response.status_code == 400
    assert "02 9876 5432 is a fixed line number: it cannot receive SMS." in text(response)
    response = staff.post(reverse("contacts:create"), {"phone": "12345", "first_name": "Typo"})
    assert response.status_code == 400
    assert "Not a valid phone number: 12345 has 5 digits: too short for a phone number" in text(response)
    assert not Contact.objects.exists()


def test_a_number_is_one_contact_per_business(tenant, other_tenant, members):
    ContactFactory(tenant=tenant, phone_e164="+61412345678", first_name="Olivia")
    ContactFactory(tenant=other_tenant, phone_e164="+61412345679")
    staff = client_for(members["staff"])

    response = staff.post(reverse("contacts:create"), {"phone": "0412 345 678", "first_name": "Again"})
    assert response.status_code == 400
    assert shows(text(response), "+61412345678", "{} is already a contact.")
    assert Contact.objects.filter(tenant=tenant).count() == 1

    # Another business having the number is none of ours.
    assert staff.post(reverse("contacts:create"), {"phone": "0412 345 679"}).status_code == 302
    assert Contact.objects.filter(tenant=tenant).count() == 2


def test_editing_keeps_numbers_unique_and_mobile(tenant, members):
    ContactFactory(tenant=tenant, phone_e164="+61412345678", first_name="Olivia")
    mia = ContactFactory(tenant=tenant, phone_e164="+61412345679", first_name="Mia", last_name="Chen")
    staff = client_for(members["staff"])
    edit = reverse("contacts:edit", args=[mia.pk])

    form = staff.get(edit)
    assert 'value="+61412345679"' in form.content.decode() and 'value="Mia"' in form.content.decode()

    response = staff.post(edit, {"phone": "0412 345 678", "first_name": "Mia"})
    assert response.status_code == 400
    assert shows(text(response), "+61412345678", "{} is already another contact.")
    response = staff.post(edit, {"phone": "(02) 9876 5432", "first_name": "Mia"})
    assert response.status_code == 400
    assert "cannot receive SMS" in text(response)
    mia.refresh_from_db()
    assert mia.phone_e164 == "+61412345679"

    # Its own number, written differently, is no clash.
    response = staff.post(edit, {"phone": "0412 345 679", "first_name": "Mia", "last_name": "Chen-Li", "tags": "vip"})
    assert response.status_code == 302
    mia.refresh_from_db()
    assert (mia.phone_e164, mia.last_name, mia.tags) == ("+61412345679", "Chen-Li", ["vip"])
    assert "Contact saved." in text(staff.get(response["Location"]))


# --- 4. the contact list --------------------------------------------------------------------


def test_search_by_name_prefix_and_by_phone_in_any_format(tenant, members):
    ContactFactory(tenant=tenant, first_name="Olivia", last_name="Nguyen", phone_e164="+61412345678")
    ContactFactory(tenant=tenant, first_name="Oliver", last_name="Brown", phone_e164="+61412555001")
    ContactFactory(tenant=tenant, first_name="Mia", last_name="Chen", phone_e164="+61412555002")
    viewer = client_for(members["viewer"])

    assert names(viewer) == {"Olivia Nguyen", "Oliver Brown", "Mia Chen"}
    assert names(viewer, q="oliv") == {"Olivia Nguyen", "Oliver Brown"}
    assert names(viewer, q="Olivia N") == {"Olivia Nguyen"}
    assert names(viewer, q="nguy") == {"Olivia Nguyen"}
    assert names(viewer, q="livia") == set()  # a prefix search, not a substring one
    for typed in ("0412 345 678", "+61412345678", "+61 412 345 678", "345 678", "0412 345"):
        assert names(viewer, q=typed) == {"Olivia Nguyen"}, typed
    assert names(viewer, q="0412 555") == {"Oliver Brown", "Mia Chen"}
    page = viewer.get(reverse("contacts:list"), {"q": "0412 345 678"}).content.decode()
    assert 'value="0412 345 678"' in page  # the search box keeps what was typed


def test_filters_by_tag_consent_dnc_and_deliverability(tenant, members):
    ContactFactory(tenant=tenant, first_name="Vic", last_name="Vip", tags=["vip", "regular"], consent="express")
    ContactFactory(tenant=tenant, first_name="Ines", last_name="Inferred", consent="inferred")
    ContactFactory(tenant=tenant, first_name="Wally", last_name="Withdrawn", consent="withdrawn")
    ContactFactory(tenant=tenant, first_name="Nora", last_name="Nothing", tags=["regular"])
    blocked = ContactFactory(tenant=tenant, first_name="Dan", last_name="Dnc")
    DoNotContactFactory(tenant=tenant, phone_e164=blocked.phone_e164)
    ContactFactory(
        tenant=tenant, first_name="Uma", last_name="Bounced", undeliverable=True, undeliverable_reason="gone"
    )
    everyone = {"Vic Vip", "Ines Inferred", "Wally Withdrawn", "Nora Nothing", "Dan Dnc", "Uma Bounced"}
    viewer = client_for(members["viewer"])

    assert names(viewer, tag="vip") == {"Vic Vip"}
    assert names(viewer, tag="regular") == {"Vic Vip", "Nora Nothing"}
    assert names(viewer, tag="vi") == set()  # a whole tag, not part of one
    assert names(viewer, consent="yes") == {"Vic Vip", "Ines Inferred"}
    assert names(viewer, consent="express") == {"Vic Vip"}
    assert names(viewer, consent="withdrawn") == {"Wally Withdrawn"}
    assert names(viewer, consent="none") == {"Nora Nothing", "Dan Dnc", "Uma Bounced"}
    assert names(viewer, dnc="yes") == {"Dan Dnc"}
    assert names(viewer, dnc="no") == everyone - {"Dan Dnc"}
    assert names(viewer, undeliverable="yes") == {"Uma Bounced"}
    assert names(viewer, undeliverable="no") == everyone - {"Uma Bounced"}
    assert names(viewer, tag="regular", consent="yes") == {"Vic Vip"}

    page = viewer.get(reverse("contacts:list"), {"dnc": "yes"}).content.decode()
    assert "Do not contact" in page and '<option value="yes" selected>On the list</option>' in page


def test_tag_filter_ignores_case_as_tags_do_everywhere_else(tenant, members):
    ContactFactory(tenant=tenant, first_name="Vic", last_name="Vip", tags=["VIP"])
    assert names(client_for(members["viewer"]), tag="vip") == {"Vic Vip"}


def test_tag_filter_finds_an_imported_tag_with_an_accent(tenant, members, django_capture_on_commit_callbacks):
    staff = client_for(members["staff"])
    staff.post(reverse("contacts:imports"), {"file": csv_upload(b"Mobile,Name\r\n0412 100 001,Zoe Adams\r\n")})
    imp = ContactImport.objects.get(tenant=tenant)
    settings = {k: v for k, v in DECLARATION.items() if not k.startswith("col_")}
    settings |= {"col_0": "phone", "col_1": "full_name", "add_tags": "Café"}
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("contacts:import", args=[imp.pk]), settings)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("contacts:import_commit", args=[imp.pk]))
    assert Contact.objects.get().tags == ["Café"]
    assert names(staff, tag="Café") == {"Zoe Adams"}


def test_pages_walk_every_contact_once_newest_first(tenant, members):
    tagged = [ContactFactory(tenant=tenant, tags=["bulk"]) for _ in range(120)]
    ContactFactory.create_batch(3, tenant=tenant)  # not in the filter
    viewer = client_for(members["viewer"])

    response = viewer.get(reverse("contacts:list"), {"tag": "bulk"})
    assert "First page" not in response.content.decode()
    seen, pages = [], 0
    while True:
        pages += 1
        seen += [pk for pk, _ in listed(response)]
        link = next_link(response)
        if link is None:
            break
        assert "tag=bulk" in link, "the filter must survive paging"
        response = viewer.get(reverse("contacts:list") + link)
        assert response.status_code == 200 and "First page" in response.content.decode()
    assert pages == 3
    assert seen == sorted((c.pk for c in tagged), reverse=True)

    # A mangled page marker is the first page, not an error.
    assert len(listed(viewer.get(reverse("contacts:list"), {"after": "x'--"}))) == 50


@pytest.mark.parametrize("marker", ["²", "9" * 40])
def test_a_page_marker_that_is_no_id_is_the_first_page(tenant, members, marker):
    """A "²" (a digit to str.isdigit, not to int(): it was a 500) or 40 digits (no bigint) is no id."""
    ContactFactory.create_batch(3, tenant=tenant)
    DoNotContactFactory(tenant=tenant)
    viewer = client_for(members["viewer"])
    assert len(listed(viewer.get(reverse("contacts:list"), {"after": marker}))) == 3
    assert viewer.get(reverse("contacts:dnc"), {"after": marker}).status_code == 200


def test_list_queries_do_not_grow_with_contacts(tenant, members, django_assert_max_num_queries):
    def add(n):
        for i in range(n):
            contact = ContactFactory(tenant=tenant, tags=["vip"] if i % 2 else [], consent="express" if i % 3 else None)
            if i % 4 == 0:
                DoNotContactFactory(tenant=tenant, phone_e164=contact.phone_e164)

    viewer = client_for(members["viewer"])
    url = reverse("contacts:list")
    add(5)
    viewer.get(url)  # the first request of a session may do one-off work
    with django_assert_max_num_queries(6) as five:
        assert len(listed(viewer.get(url))) == 5
    add(55)
    with django_assert_max_num_queries(len(five)) as sixty:
        assert len(listed(viewer.get(url))) == 50
    assert len(sixty) == len(five)


# --- 5. tenants never see each other's contacts ---------------------------------------------


def test_other_tenants_contacts_never_appear(tenant, other_tenant, members):
    ContactFactory(tenant=tenant, first_name="Olivia", last_name="Nguyen", phone_e164="+61412345678")
    DoNotContactFactory(tenant=tenant, phone_e164="+61412000999")
    ContactFactory(tenant=other_tenant, first_name="Rival", last_name="Secret", phone_e164="+61412345678")
    ContactFactory(tenant=other_tenant, first_name="Rival", last_name="Only", phone_e164="+61412777777")
    DoNotContactFactory(tenant=other_tenant, phone_e164="+61412345678", note="rival note")
    admin = client_for(members["admin"])

    assert names(admin) == {"Olivia Nguyen"}
    assert names(admin, q="Rival") == set()
    assert names(admin, q="0412 777 777") == set()
    assert names(admin, q="0412 345 678") == {"Olivia Nguyen"}
    # Their do-not-contact list is theirs: it does not mark our contact.
    assert names(admin, dnc="yes") == set()
    assert names(admin, dnc="no") == {"Olivia Nguyen"}

    exported = streamed_csv(admin.get(reverse("contacts:export")))
    assert [row[1:3] for row in exported[1:]] == [["Olivia", "Nguyen"]]
    dnc_page = text(admin.get(reverse("contacts:dnc")))
    assert shows(dnc_page, "+61412000999") and not shows(dnc_page, "+61412345678")
    dnc_rows = streamed_csv(admin.get(reverse("contacts:dnc_export")))
    assert [row[0] for row in dnc_rows[1:]] == ["+61412000999"]
    assert "rival note" not in str(dnc_rows)


# --- 6. exports -----------------------------------------------------------------------------


def test_contact_export_is_safe_csv_and_audited(tenant, members):
    contact = ContactFactory(
        tenant=tenant,
        phone_e164="+61412345678",
        first_name='=HYPERLINK("http://evil")',
        last_name="@SUM(A1)",
        email="olivia@example.com",
        tags=["-2+3", "vip"],
        state="NSW",
        consent="express",
    )
    assert client_for(members["staff"]).get(reverse("contacts:export")).status_code == 403
    assert not AuditEvent.objects.filter(action=services.ContactAction.EXPORTED).exists()

    response = client_for(members["admin"]).get(reverse("contacts:export"))
    assert 'filename="contacts-acme.csv"' in response["Content-Disposition"]
    header, *rows = streamed_csv(response)
    assert header[:4] == ["phone", "first_name", "last_name", "email"]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["phone"] == "+61412345678"  # a number, not a formula: kept as it is
    assert row["first_name"] == '\'=HYPERLINK("http://evil")'
    assert row["last_name"] == "'@SUM(A1)"
    assert row["tags"] == "'-2+3, vip"
    assert (row["email"], row["state"], row["consent"]) == ("olivia@example.com", "NSW", "express")
    assert timezone.datetime.fromisoformat(row["consent_at"]) == contact.consent_at

    event = AuditEvent.objects.get(tenant=tenant, action=services.ContactAction.EXPORTED)
    assert (event.actor, event.target) == (members["admin"], "contacts")


def test_dnc_export_is_safe_csv_and_audited(tenant, members):
    admin = client_for(members["admin"])
    admin.post(
        reverse("contacts:dnc"), {"numbers": "0412 345 678", "reason": "complaint", "note": "=1+1 rang to complain"}
    )

    response = admin.get(reverse("contacts:dnc_export"))
    assert 'filename="do-not-contact-acme.csv"' in response["Content-Disposition"]
    header, *rows = streamed_csv(response)
    assert header == ["phone", "reason", "note", "source", "added_at"]
    assert [row[:3] for row in rows] == [["+61412345678", "complaint", "'=1+1 rang to complain"]]
    event = AuditEvent.objects.get(tenant=tenant, action=services.ContactAction.EXPORTED)
    assert (event.actor, event.target) == (members["admin"], "do-not-contact list")


# --- 7. the do-not-contact list -------------------------------------------------------------


def test_add_one_number_to_the_do_not_contact_list(tenant, members):
    admin = client_for(members["admin"])
    response = admin.post(
        reverse("contacts:dnc"), {"numbers": "0412 345 678", "reason": "manual", "note": "asked in store"}, follow=True
    )
    assert response.redirect_chain == [(reverse("contacts:dnc"), 302)]
    page = text(response)
    assert "1 added to the do-not-contact list, 0 already on it." in page
    assert shows(page, "+61412345678") and "asked in store" in page
    entry = DoNotContact.objects.get(tenant=tenant)
    assert (entry.phone_e164, entry.reason, entry.added_by) == ("+61412345678", DncReason.MANUAL, members["admin"])
    assert AuditEvent.objects.filter(
        tenant=tenant, action=services.ContactAction.DNC_ADDED, target="+61412345678"
    ).exists()

    # Everyone may read the list; only admins see the form.
    assert "Add to the list" not in text(client_for(members["viewer"]).get(reverse("contacts:dnc")))


def test_a_pasted_list_with_a_bad_line_adds_nothing_and_names_the_line(tenant, members):
    admin = client_for(members["admin"])
    pasted = "0412 000 001\n0412 000 002, 0412 000 003\nnot a number\n0412 000 004"
    response = admin.post(reverse("contacts:dnc"), {"numbers": pasted, "reason": "manual"})
    assert response.status_code == 400
    page = text(response)
    assert "Nothing added. These are not phone numbers: line 3: 'not a number'" in page
    assert "0412 000 004" in page  # the pasted text is kept for fixing
    assert not DoNotContact.objects.exists()

    fixed = pasted.replace("not a number\n", "")
    response = admin.post(reverse("contacts:dnc"), {"numbers": fixed, "reason": "manual"}, follow=True)
    assert "4 added to the do-not-contact list, 0 already on it." in text(response)
    response = admin.post(
        reverse("contacts:dnc"), {"numbers": "0412000001; 0412 000 005", "reason": "manual"}, follow=True
    )
    assert "1 added to the do-not-contact list, 1 already on it." in text(response)
    assert DoNotContact.objects.filter(tenant=tenant).count() == 5


def test_removing_a_number_needs_a_reason_which_is_audited(tenant, members):
    entry = DoNotContactFactory(tenant=tenant, phone_e164="+61412345678", reason=DncReason.COMPLAINT)
    admin = client_for(members["admin"])
    url = reverse("contacts:dnc_remove", args=[entry.pk])
    assert shows(text(admin.get(url)), "+61412345678", "Remove {} from the do-not-contact list?")

    for reason in ("", "   "):
        response = admin.post(url, {"reason": reason})
        assert response.status_code == 400
        assert "This field is required." in text(response)
    assert DoNotContact.objects.filter(pk=entry.pk).exists()
    assert not AuditEvent.objects.filter(action=services.ContactAction.DNC_REMOVED).exists()

    response = admin.post(url, {"reason": "Signed up again in store, form on file"}, follow=True)
    assert response.redirect_chain == [(reverse("contacts:dnc"), 302)]
    assert shows(text(response), "+61412345678", "{} removed from the do-not-contact list.")
    assert not DoNotContact.objects.filter(pk=entry.pk).exists()
    event = AuditEvent.objects.get(tenant=tenant, action=services.ContactAction.DNC_REMOVED)
    assert (event.actor, event.target) == (members["admin"], "+61412345678")
    assert event.data["reason"] == "Signed up again in store, form on file"
    assert event.data["entry_reason"] == "complaint"


def test_the_do_not_contact_entry_outlives_the_contact(tenant, members):
    admin = client_for(members["admin"])
    consent = {"kind": "express", "source": "counter sign-up", "captured_at": "2025-01-10T09:30"}
    admin.post(reverse("contacts:create"), {"phone": "0412 345 678", "first_name": "Olivia", **consent})
    contact = Contact.objects.get(tenant=tenant)
    assert contact.consent_status == ConsentStatus.EXPRESS
    admin.post(reverse("contacts:dnc"), {"numbers": "0412 345 678", "reason": "complaint"})
    assert "On the do-not-contact list since" in text(admin.get(reverse("contacts:detail", args=[contact.pk])))

    response = admin.post(reverse("contacts:delete", args=[contact.pk]), follow=True)
    assert response.redirect_chain == [(reverse("contacts:list"), 302)]
    assert "Olivia deleted. A do-not-contact entry for the number stays." in text(response)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ConsentRecord.objects.filter(contact_id=contact.pk).exists()
    assert AuditEvent.objects.filter(action="contact.deleted", target=contact.phone_e164).exists()
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164="+61412345678").exists()
    assert AuditEvent.objects.filter(tenant=tenant, action=services.ContactAction.CONTACT_DELETED).exists()

    admin.post(reverse("contacts:create"), {"phone": "+61 412 345 678", "first_name": "Olivia", "last_name": "Again"})
    again = Contact.objects.get(tenant=tenant)
    assert names(admin, dnc="yes") == {"Olivia Again"}
    assert names(admin, dnc="no") == set()
    assert "On the do-not-contact list since" in text(admin.get(reverse("contacts:detail", args=[again.pk])))


# --- 8. consent on the contact page ---------------------------------------------------------


def test_consent_is_recorded_then_withdrawn_and_never_edited(tenant, members):
    contact = ContactFactory(tenant=tenant, first_name="Olivia", last_name="Nguyen")
    staff = client_for(members["staff"])
    detail = reverse("contacts:detail", args=[contact.pk])
    url = reverse("contacts:consent", args=[contact.pk])
    page = text(staff.get(detail))
    assert "No consent on file" in page and "Record consent or a withdrawal" in page
    assert "Record consent or a withdrawal" not in text(client_for(members["viewer"]).get(detail))

    given = {
        "kind": "express",
        "source": "in-store sign-up sheet",
        "captured_at": "2025-03-01T09:30",
        "evidence": "https://example.com/forms/123",
    }
    response = staff.post(url, given, follow=True)
    assert response.redirect_chain == [(detail, 302)]
    page = text(response)
    assert "Consent recorded." in page and "Express consent" in page and "in-store sign-up sheet" in page
    fields = ("kind", "withdrawn", "source", "captured_at", "evidence", "recorded_by", "created_at")
    first = ConsentRecord.objects.filter(contact=contact).values(*fields).get()

    withdrawal = {
        "kind": "express",
        "source": "replied to our e-mail",
        "captured_at": "2025-04-01T09:30",
        "withdrawn": "on",
    }
    page = text(staff.post(url, withdrawal, follow=True))
    assert "Consent withdrawal recorded." in page and "Consent withdrawn" in page
    assert "Express consent" not in page

    records = list(ConsentRecord.objects.filter(contact=contact).order_by("pk").values(*fields))
    assert len(records) == 2
    assert records[0] == first  # the first record is untouched: withdrawal is a new row
    assert (records[1]["withdrawn"], records[1]["recorded_by"]) == (True, members["staff"].pk)
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.WITHDRAWN
    assert AuditEvent.objects.filter(tenant=tenant, action=services.ContactAction.CONSENT_WITHDRAWN).exists()


def test_consent_dated_in_the_future_or_incomplete_is_refused(tenant, members):
    contact = ContactFactory(tenant=tenant)
    staff = client_for(members["staff"])
    url = reverse("contacts:consent", args=[contact.pk])
    tomorrow = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")

    page = text(staff.post(url, {"kind": "express", "source": "web form", "captured_at": tomorrow}, follow=True))
    assert "Consent cannot be dated in the future." in page
    page = text(staff.post(url, {"kind": "express", "captured_at": "2025-01-10T09:30"}, follow=True))
    assert "Consent not recorded: source: Say where consent was given" in page

    assert not ConsentRecord.objects.filter(contact=contact).exists()
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.NONE


def test_consent_time_is_typed_and_shown_in_the_business_time_zone(tenant, members):
    contact = ContactFactory(tenant=tenant)
    # The Sydney bakery records consent given an hour ago, typed in Sydney time.
    typed = timezone.localtime(timezone.now() - timedelta(hours=1), tenant.zone).strftime("%Y-%m-%dT%H:%M")
    client_for(members["staff"]).post(
        reverse("contacts:consent", args=[contact.pk]), {"kind": "express", "source": "counter", "captured_at": typed}
    )
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.EXPRESS
    assert timezone.localtime(contact.consent_at, tenant.zone).strftime("%Y-%m-%dT%H:%M") == typed


# --- 9. imports through the pages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "filename", "reason"),
    [
        (b"", "empty.csv", "The submitted file is empty."),
        (b"PK\x03\x04" + bytes(200), "customers.xlsx", "This is an Excel workbook (.xlsx), not a CSV"),
        (b"Name,Email\r\nAda,ada@example.com\r\n", "names.csv", "No column holds phone numbers"),
    ],
    ids=["empty", "xlsx", "no-phone-column"],
)
def test_an_unusable_upload_is_refused_with_the_reason(content, filename, reason, tenant, members, settings):
    response = client_for(members["staff"]).post(reverse("contacts:imports"), {"file": csv_upload(content, filename)})
    assert response.status_code == 400
    assert reason in text(response)
    assert not ContactImport.objects.exists()
    stored = [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]
    assert stored == [], "a refused upload leaves no file behind"


def test_import_upload_preview_and_commit_through_the_pages(tenant, members, django_capture_on_commit_callbacks):
    ContactFactory(tenant=tenant, phone_e164="+61412100005", first_name="Olga", last_name="Old")
    DoNotContactFactory(tenant=tenant, phone_e164="+61412100004")
    staff = client_for(members["staff"])

    response = staff.post(reverse("contacts:imports"), {"file": csv_upload()})
    imp = ContactImport.objects.get(tenant=tenant)
    page_url = reverse("contacts:import", args=[imp.pk])
    assert response.status_code == 302 and response["Location"] == page_url
    page = staff.get(page_url)
    assert status_label(text(page)) == "Uploaded: map the columns"
    assert mapped_columns(page) == {
        "Mobile": "phone",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
    }
    assert "0412 100 001 · 0412 100 002 · 0412100001" in text(page)  # samples of the phone column
    assert "customers.csv" in text(staff.get(reverse("contacts:imports")))

    # The dry run: the task runs when the settings are committed.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = staff.post(page_url, DECLARATION)
    assert response.status_code == 302 and len(callbacks) == 1
    page = staff.get(page_url)
    assert status_label(text(page)) == "Preview ready"
    assert outcome_counts(page) == {
        "create": 3,
        "update": 1,
        "unchanged": 0,
        "duplicate": 1,
        "invalid_phone": 1,
        "not_mobile": 1,
        "missing_consent": 0,
        "dnc": 1,
    }
    preview = text(page)
    assert "First 8 rows" in preview and "Import 4 contacts" in preview
    assert shows(preview, "+61412100001") and "Ada Lovelace" in preview and "ada@example.com" in preview
    assert "number +61412100001 appears earlier in the file" in preview
    assert "number +61298765432 is a fixed line number and cannot receive SMS" in preview
    assert not Contact.objects.filter(phone_e164="+61412100001").exists(), "a dry run writes no contacts"

    progress = staff.get(reverse("contacts:import_progress", args=[imp.pk])).json()
    assert (progress["status"], progress["percent"], progress["running"]) == ("previewed", 100.0, False)
    assert (progress["rows_done"], progress["rows_total"]) == (8, 8)

    rejected = staff.get(reverse("contacts:import_rejected", args=[imp.pk]))
    assert rejected.status_code == 200
    assert 'filename="customers-rejected-rows.csv"' in rejected["Content-Disposition"]
    header, *rows = csv_rows(b"".join(rejected.streaming_content))
    assert header == ["Mobile", "First Name", "Last Name", "Email", "row", "outcome", "reason"]
    assert [(row[4], row[5]) for row in rows] == [
        ("3", "Duplicate in file"),
        ("4", "Not a mobile number"),
        ("5", "Not a valid phone number"),
        ("7", "On the do-not-contact list"),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(reverse("contacts:import_commit", args=[imp.pk]))
    assert response.status_code == 302 and response["Location"] == page_url
    page = text(staff.get(page_url))
    assert status_label(page) == "Imported" and "<h2>Result</h2>" in page
    assert "Columns and consent" not in page  # a committed import can no longer be changed

    ada = Contact.objects.get(tenant=tenant, phone_e164="+61412100001")
    assert (ada.first_name, ada.last_name, ada.email, ada.tags) == ("Ada", "Lovelace", "ada@example.com", ["imported"])
    assert ada.consent_status == ConsentStatus.EXPRESS
    assert timezone.localtime(ada.consent_at, tenant.zone).date() == date(2024, 6, 1)
    olga = Contact.objects.get(tenant=tenant, phone_e164="+61412100005")
    assert (olga.last_name, olga.consent_status) == ("Updated", ConsentStatus.EXPRESS)
    imported = set(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))
    assert imported == {"+61412100001", "+61412100002", "+61412100003", "+61412100005"}
    records = ConsentRecord.objects.filter(source_import=imp)
    assert records.count() == 4
    assert set(records.values_list("source", flat=True)) == {"sign-up form at the counter"}
    assert names(staff, tag="imported", consent="express") == {
        "Ada Lovelace",
        "Grace Hopper",
        "Alan Turing",
        "Olga Updated",
    }
    assert AuditEvent.objects.filter(tenant=tenant, action=services.ContactAction.IMPORT_COMMITTED).exists()


def test_a_declaration_without_its_date_is_refused_naming_the_field(tenant, members, tmp_path):
    imp = uploaded_import(tenant, members["staff"], tmp_path)
    response = client_for(members["staff"]).post(
        reverse("contacts:import", args=[imp.pk]), {**DECLARATION, "consent_captured_at": ""}
    )
    assert response.status_code == 400
    page = text(response)
    assert re.search(r"Consent obtained at</label>.*?Say when consent was obtained\.", page, re.S)
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.UPLOADED


def test_an_import_declaration_is_typed_in_the_business_time_zone(tenant, members, tmp_path):
    imp = uploaded_import(tenant, members["staff"], tmp_path)
    typed = timezone.localtime(timezone.now() - timedelta(hours=1), tenant.zone).strftime("%Y-%m-%dT%H:%M")
    response = client_for(members["staff"]).post(
        reverse("contacts:import", args=[imp.pk]), {**DECLARATION, "consent_captured_at": typed}
    )
    assert response.status_code == 302, "consent given an hour ago was refused as dated in the future"


def test_admin_deletes_a_contact_with_its_consent_history(tenant, members):
    from contacts.models import ConsentRecord

    admin_user = members["admin"]
    admin_user.is_staff = True
    admin_user.save()
    contact = ContactFactory(tenant=tenant, consent="express")
    client = client_for(admin_user)
    response = client.post(reverse("admin:contacts_contact_delete", args=[contact.pk]), {"post": "yes"})
    assert response.status_code == 302, response.content[:500]
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ConsentRecord.objects.filter(contact_id=contact.pk).exists()
    assert AuditEvent.objects.filter(action="contact.deleted", target=contact.phone_e164).exists()
