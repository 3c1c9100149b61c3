"""The contacts API (issue 18): shapes, filters, consent required to create, the upsert by phone,
the consent history, the role matrix, and another tenant's contacts answering 404."""

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from contacts.models import ConsentRecord, ConsentStatus, Contact
from contacts.tests.factories import ContactFactory, DoNotContactFactory
from tenants.models import AuditEvent
from tenants.testing import api_client, assert_api_hidden, assert_api_roles

pytestmark = pytest.mark.django_db

LIST = "/api/v1/contacts/"
CONSENT = {
    "kind": "express",
    "source": "web form",
    "captured_at": "2026-01-31T10:00:00+11:00",
    "evidence": "signup form #12",
}
ANN = {"phone": "0412 345 678", "first_name": "Ann", "consent": CONSENT}
CONTACT_FIELDS = {
    "id", "phone_e164", "first_name", "last_name", "email", "timezone", "state", "postcode", "tags",
    "custom_fields", "has_consent", "consent_kind", "consent_status", "consent_at", "on_do_not_contact",
    "undeliverable", "created_at", "updated_at",
}  # fmt: skip


def detail(contact) -> str:
    return f"{LIST}{contact.pk}/"


def by_phone(phone: str) -> str:
    return f"{LIST}by-phone/{quote(phone, safe='')}/"


def consent_url(contact) -> str:
    return f"{LIST}{contact.pk}/consent/"


@pytest.fixture
def staff(api_keys):
    return api_client(api_keys["staff"])


@pytest.fixture
def viewer(api_keys):
    return api_client(api_keys["viewer"])


@pytest.fixture
def numbers():
    """Fresh mobile numbers, one per call, for requests that consume theirs."""
    counter = iter(range(500, 10_000))
    return lambda: f"0412 {next(counter):06d}"


# --- create -----------------------------------------------------------------------------------


def test_create_with_consent(staff, tenant):
    response = staff.post(LIST, ANN, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == CONTACT_FIELDS
    assert body["phone_e164"] == "+61412345678"
    assert body["first_name"] == "Ann"
    assert body["has_consent"] is True
    assert body["consent_kind"] == "express"
    assert body["consent_status"] == "express"
    assert body["on_do_not_contact"] is False
    contact = Contact.objects.get(pk=body["id"], tenant=tenant)
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.kind, record.source, record.evidence, record.withdrawn) == (
        "express", "web form", "signup form #12", False
    )  # fmt: skip
    assert record.captured_at == datetime(2026, 1, 30, 23, 0, tzinfo=UTC)
    assert AuditEvent.objects.filter(tenant=tenant, action="contact.created", target="+61412345678").exists()


def test_create_without_consent_is_refused_naming_consent(staff, tenant):
    response = staff.post(LIST, {"phone": "0412 345 678", "first_name": "Ann"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert "consent" in body["fields"]
    assert not Contact.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize(
    ("consent", "problem"),
    [
        ({**CONSENT, "source": ""}, "source"),
        ({k: v for k, v in CONSENT.items() if k != "captured_at"}, "captured_at"),
        ({**CONSENT, "kind": "implied"}, "kind"),
        ({**CONSENT, "captured_at": "2099-01-01T00:00:00Z"}, "future"),
        ({**CONSENT, "captured_at": "31/01/2026"}, "captured_at"),
    ],
)
def test_create_with_incomplete_consent_is_refused(staff, tenant, consent, problem):
    response = staff.post(LIST, {**ANN, "consent": consent}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["consent"]
    assert not Contact.objects.filter(tenant=tenant).exists()


def test_inferred_consent_and_no_evidence_text(staff):
    consent = {"kind": "inferred", "source": "customer since 2019", "captured_at": "2025-03-01T09:00:00Z"}
    response = staff.post(LIST, {"phone": "+61 412 345 678", "consent": consent}, format="json")

    assert response.status_code == 201
    assert response.json()["consent_kind"] == "inferred"


def test_a_time_without_offset_is_the_business_time(staff, tenant):
    """Read in the tenant's zone (Sydney, +11:00 in January) and shown in it, as on the pages."""
    consent = {**CONSENT, "captured_at": "2026-01-31T10:00:00"}
    response = staff.post(LIST, {**ANN, "consent": consent}, format="json")

    assert response.status_code == 201
    assert ConsentRecord.objects.get().captured_at == datetime(2026, 1, 30, 23, 0, tzinfo=UTC)
    assert response.json()["consent_at"] == "2026-01-31T10:00:00+11:00"


@pytest.mark.parametrize(
    ("phone", "words"), [("not a phone", "Not a valid phone number"), ("02 9876 5432", "cannot receive SMS")]
)
def test_create_with_a_number_that_cannot_take_sms_is_refused(staff, phone, words):
    response = staff.post(LIST, {**ANN, "phone": phone}, format="json")

    assert response.status_code == 400
    assert words in " ".join(response.json()["fields"]["phone"])


def test_create_for_an_existing_number_points_at_the_update(staff, tenant):
    existing = ContactFactory(tenant=tenant, phone_e164="+61412345678")

    response = staff.post(LIST, {**ANN, "phone": "+61412345678"}, format="json")

    assert response.status_code == 400
    message = " ".join(response.json()["fields"]["phone"])
    assert f"id {existing.pk}" in message and "by-phone" in message
    assert Contact.objects.filter(tenant=tenant).count() == 1


def test_create_takes_every_editable_field(staff):
    payload = {
        **ANN,
        "last_name": "Lee",
        "email": "ann@example.com",
        "timezone": "Australia/Perth",
        "state": "WA",
        "postcode": "6000",
        "tags": ["VIP", " vip ", "cakes", ""],
        "custom_fields": {"favourite_cake": "lamington"},
    }
    body = staff.post(LIST, payload, format="json").json()

    assert body["tags"] == ["VIP", "cakes"]
    assert (body["email"], body["timezone"], body["state"], body["postcode"]) == (
        "ann@example.com", "Australia/Perth", "WA", "6000"
    )  # fmt: skip
    assert body["custom_fields"] == {"favourite_cake": "lamington"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("state", "XX"),
        ("postcode", "60000"),
        ("email", "not-an-email"),
        ("custom_fields", {"first_name": "Bob"}),
        ("tags", "VIP"),
    ],
)
def test_create_refuses_bad_fields_by_name(staff, field, value):
    response = staff.post(LIST, {**ANN, field: value}, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_create_is_idempotent_with_a_key(staff, tenant):
    first = staff.post(LIST, ANN, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = staff.post(LIST, ANN, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Contact.objects.filter(tenant=tenant).count() == 1


def test_an_idempotency_key_reused_with_another_body_is_refused(staff, tenant):
    staff.post(LIST, ANN, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    response = staff.post(LIST, {**ANN, "phone": "0412 345 999"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert Contact.objects.filter(tenant=tenant).count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "Ann\x00"),
        ("tags", ["a\x00b"]),
        ("custom_fields", {"cake\x00": "sponge"}),
        ("custom_fields", {"cake": "spo\x00nge"}),
        ("consent", {**CONSENT, "evidence": "form\x00"}),
    ],
)
def test_a_nul_character_is_refused_by_field(staff, tenant, field, value):
    """PostgreSQL cannot store NUL: refused at the edge with the field's name, never a 500."""
    response = staff.post(LIST, {**ANN, field: value}, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Contact.objects.filter(tenant=tenant).exists()


# --- list and retrieve ------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["0412345678", "0412 345 678", "+61412345678", "61412345678", "+61 (0) 412-345-678"])
def test_list_by_phone_in_any_format(staff, viewer, tenant, phone):
    created = staff.post(LIST, ANN, format="json").json()
    ContactFactory(tenant=tenant)

    response = viewer.get(LIST, {"phone": phone})

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [created["id"]]
    assert response.json()["results"][0]["phone_e164"] == "+61412345678"


def test_list_by_a_phone_that_is_not_one_is_refused(viewer):
    response = viewer.get(LIST, {"phone": "abc"})

    assert response.status_code == 400
    assert "phone" in response.json()["fields"]


def test_list_by_tag_consent_and_updated_since(viewer, tenant):
    vip = ContactFactory(tenant=tenant, tags=["VIP"], consent="express")
    inferred = ContactFactory(tenant=tenant, consent="inferred")
    withdrawn = ContactFactory(tenant=tenant, consent="withdrawn")
    none = ContactFactory(tenant=tenant)
    Contact.objects.filter(pk__in=[vip.pk, inferred.pk]).update(updated_at=timezone.now() - timedelta(days=3))

    def ids(**query):
        response = viewer.get(LIST, query)
        assert response.status_code == 200, response.json()
        return {c["id"] for c in response.json()["results"]}

    assert ids() == {vip.pk, inferred.pk, withdrawn.pk, none.pk}
    assert ids(tag="vip") == {vip.pk}
    assert ids(consent="current") == ids(consent="yes") == {vip.pk, inferred.pk}
    assert ids(consent="none") == {none.pk}
    assert ids(consent="withdrawn") == {withdrawn.pk}
    assert ids(consent="express") == {vip.pk}
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(updated_since=since) == {withdrawn.pk, none.pk}
    assert ids(updated_since=since, consent="withdrawn") == {withdrawn.pk}
    assert ids(tag="", consent="") == ids()  # an empty filter is no filter, as on the page


@pytest.mark.parametrize(("name", "value"), [("consent", "maybe"), ("updated_since", "last tuesday")])
def test_list_refuses_filters_it_cannot_read(viewer, name, value):
    response = viewer.get(LIST, {name: value})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [name]


def test_list_is_the_tenants_own_in_cursor_pages(viewer, tenant, other_tenant):
    own = [ContactFactory(tenant=tenant) for _ in range(3)]
    ContactFactory(tenant=other_tenant)

    first = viewer.get(LIST, {"page_size": 2}).json()
    second = viewer.get(first["next"]).json()

    assert [c["id"] for c in first["results"] + second["results"]] == [c.pk for c in reversed(own)]
    assert second["next"] is None


def test_a_list_page_costs_the_same_queries_for_many_rows(viewer, tenant, django_assert_max_num_queries):
    for n in range(30):
        contact = ContactFactory(tenant=tenant, consent="express" if n % 2 else None)
        if n % 3 == 0:
            DoNotContactFactory(tenant=tenant, phone_e164=contact.phone_e164)

    with django_assert_max_num_queries(8):
        response = viewer.get(LIST, {"consent": "current", "tag": ""})
    with django_assert_max_num_queries(8):
        history = viewer.get(consent_url(contact))

    assert len(response.json()["results"]) == 15
    assert sum(c["on_do_not_contact"] for c in response.json()["results"]) == 5
    assert history.status_code == 200


def test_retrieve_shows_consent_and_the_do_not_contact_list(viewer, tenant):
    contact = ContactFactory(tenant=tenant, consent="withdrawn")
    DoNotContactFactory(tenant=tenant, phone_e164=contact.phone_e164)

    body = viewer.get(detail(contact)).json()

    assert set(body) == CONTACT_FIELDS
    assert body["id"] == contact.pk
    assert (body["has_consent"], body["consent_kind"], body["consent_status"]) == (False, None, "withdrawn")
    assert body["on_do_not_contact"] is True


def test_another_tenants_contact_is_not_found(tenant, other_api_key):
    contact = ContactFactory(tenant=tenant, consent="express")

    assert_api_hidden(detail(contact), key=other_api_key)
    assert_api_hidden(detail(contact), key=other_api_key, method="patch", data={"first_name": "X"})
    assert_api_hidden(detail(contact), key=other_api_key, method="put", data={"phone": "0412 999 999"})
    assert_api_hidden(detail(contact), key=other_api_key, method="delete")
    assert_api_hidden(consent_url(contact), key=other_api_key)
    assert_api_hidden(consent_url(contact), key=other_api_key, method="post", data=CONSENT)
    assert Contact.objects.get(pk=contact.pk).first_name == contact.first_name
    assert ConsentRecord.objects.filter(contact=contact).count() == 1


def test_a_missing_contact_and_a_word_for_an_id_are_not_found(viewer):
    for url in (f"{LIST}999999/", f"{LIST}abc/", f"{LIST}²/"):
        assert viewer.get(url).status_code == 404


def test_without_a_key_nothing_is_shown(tenant):
    ContactFactory(tenant=tenant)

    response = api_client().get(LIST)
    wrong = api_client("smk_0123456789_nope").get(LIST)

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "authentication_failed")


# --- update and delete ------------------------------------------------------------------------


def test_patch_changes_the_given_fields(staff, tenant):
    contact = ContactFactory(tenant=tenant, first_name="Ann", last_name="Lee", email="ann@example.com")

    response = staff.patch(detail(contact), {"first_name": "Annie", "phone": "0412 777 888"}, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["first_name"], response.json()["last_name"]) == ("Annie", "Lee")
    assert response.json()["phone_e164"] == "+61412777888"
    event = AuditEvent.objects.get(tenant=tenant, action="contact.updated")
    assert event.data["first_name"] == {"from": "Ann", "to": "Annie"}


def test_put_needs_the_phone_and_keeps_fields_left_out(staff, tenant):
    contact = ContactFactory(tenant=tenant, last_name="Lee", tags=["VIP"])

    refused = staff.put(detail(contact), {"first_name": "Zed"}, format="json")
    response = staff.put(detail(contact), {"phone": contact.phone_e164, "first_name": "Zed"}, format="json")

    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["phone"]
    assert response.status_code == 200
    assert (response.json()["first_name"], response.json()["last_name"], response.json()["tags"]) == (
        "Zed", "Lee", ["VIP"]
    )  # fmt: skip


def test_update_to_another_contacts_number_is_refused(staff, tenant):
    ContactFactory(tenant=tenant, phone_e164="+61412000001")
    contact = ContactFactory(tenant=tenant, phone_e164="+61412000002")

    response = staff.patch(detail(contact), {"phone": "0412 000 001"}, format="json")

    assert response.status_code == 400
    assert "phone" in response.json()["fields"]


def test_update_with_consent_records_it_once(staff, tenant):
    contact = ContactFactory(tenant=tenant)

    for _ in range(2):
        response = staff.patch(detail(contact), {"consent": CONSENT}, format="json")
        assert response.status_code == 200
        assert response.json()["has_consent"] is True

    assert ConsentRecord.objects.filter(contact=contact).count() == 1


def test_delete_keeps_the_do_not_contact_entry(api_keys, tenant):
    contact = ContactFactory(tenant=tenant, consent="express")
    DoNotContactFactory(tenant=tenant, phone_e164=contact.phone_e164)

    response = api_client(api_keys["admin"]).delete(detail(contact))

    assert response.status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert AuditEvent.objects.filter(tenant=tenant, action="contact.deleted", target=contact.phone_e164).exists()
    assert api_client(api_keys["admin"]).get(f"/api/v1/do-not-contact/{quote(contact.phone_e164)}/").status_code == 200


# --- the role matrix --------------------------------------------------------------------------


def test_every_role_reads(api_keys, tenant):
    contact = ContactFactory(tenant=tenant, consent="express")
    for url in (LIST, detail(contact), consent_url(contact)):
        assert_api_roles(url, keys=api_keys, allowed={"viewer", "staff", "admin"})


def test_staff_and_admins_write_contacts_and_consent(api_keys, tenant, numbers):
    contact = ContactFactory(tenant=tenant)
    writers = {"staff", "admin"}

    assert_api_roles(LIST, keys=api_keys, allowed=writers, method="post", data=lambda: {**ANN, "phone": numbers()})
    assert_api_roles(detail(contact), keys=api_keys, allowed=writers, method="patch", data={"first_name": "B"})
    assert_api_roles(detail(contact), keys=api_keys, allowed=writers, method="put", data={"phone": contact.phone_e164})
    assert_api_roles(
        lambda: by_phone(numbers()), keys=api_keys, allowed=writers, method="put", data={"consent": CONSENT}
    )
    assert_api_roles(consent_url(contact), keys=api_keys, allowed=writers, method="post", data=CONSENT)


def test_only_admins_delete_contacts(api_keys, tenant):
    assert_api_roles(lambda: detail(ContactFactory(tenant=tenant)), keys=api_keys, allowed={"admin"}, method="delete")


# --- upsert by phone --------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["+61412345678", "0412 345 678", "61412345678"])
def test_upsert_creates_then_updates(staff, tenant, phone):
    created = staff.put(by_phone(phone), {"first_name": "Ann", "consent": CONSENT}, format="json")
    updated = staff.put(by_phone("0412345678"), {"last_name": "Lee", "consent": CONSENT}, format="json")

    assert created.status_code == 201, created.json()
    assert created.json()["phone_e164"] == "+61412345678"
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert (updated.json()["first_name"], updated.json()["last_name"]) == ("Ann", "Lee")
    assert ConsentRecord.objects.filter(contact_id=created.json()["id"]).count() == 1  # the same evidence, once


def test_upsert_takes_the_phone_url_encoded_or_not(staff):
    raw = "/api/v1/contacts/by-phone/+61 412 345 678/"
    encoded = "/api/v1/contacts/by-phone/0412%20345%20678/"
    double = "/api/v1/contacts/by-phone/%252B61412345678/"

    assert staff.put(raw, {"consent": CONSENT}, format="json").status_code == 201
    assert staff.put(encoded, {"first_name": "Ann"}, format="json").status_code == 200
    assert staff.put(double, {"last_name": "Lee"}, format="json").status_code == 200


def test_upsert_of_a_new_number_needs_consent(staff, tenant):
    response = staff.put(by_phone("0412 345 678"), {"first_name": "Ann"}, format="json")

    assert response.status_code == 400
    assert "consent" in response.json()["fields"]
    assert not Contact.objects.filter(tenant=tenant).exists()


def test_upsert_of_a_contact_with_current_consent_needs_none(staff, tenant):
    contact = ContactFactory(tenant=tenant, consent="inferred")

    response = staff.put(by_phone(contact.phone_e164), {"first_name": "Ann"}, format="json")

    assert response.status_code == 200
    assert response.json()["first_name"] == "Ann"
    assert ConsentRecord.objects.filter(contact=contact).count() == 1


@pytest.mark.parametrize("consent", ["withdrawn", None])
def test_upsert_of_a_contact_without_current_consent_needs_it(staff, tenant, consent):
    """A form submission is where new consent comes from: without it, nothing changes."""
    contact = ContactFactory(tenant=tenant, consent=consent, first_name="Old")
    fresh = {**CONSENT, "captured_at": timezone.now().isoformat()}

    refused = staff.put(by_phone(contact.phone_e164), {"first_name": "New"}, format="json")
    given = staff.put(by_phone(contact.phone_e164), {"first_name": "New", "consent": fresh}, format="json")

    assert refused.status_code == 400 and "consent" in refused.json()["fields"]
    assert given.status_code == 200
    assert (given.json()["first_name"], given.json()["has_consent"]) == ("New", True)


def test_evidence_older_than_a_withdrawal_does_not_lift_it(staff, tenant):
    """The latest record by captured_at decides, as everywhere: January's form is older than the STOP."""
    contact = ContactFactory(tenant=tenant, consent="withdrawn")

    response = staff.put(by_phone(contact.phone_e164), {"consent": CONSENT}, format="json")

    assert response.status_code == 200
    assert (response.json()["has_consent"], response.json()["consent_status"]) == (False, ConsentStatus.WITHDRAWN)


def test_upsert_of_a_number_that_cannot_take_sms_is_refused(staff):
    for phone in ("not-a-phone", "02 9876 5432"):
        response = staff.put(by_phone(phone), {"consent": CONSENT}, format="json")
        assert response.status_code == 400
        assert "phone" in response.json()["fields"]


def test_upsert_never_touches_another_tenants_contact(staff, tenant, other_tenant):
    theirs = ContactFactory(tenant=other_tenant, phone_e164="+61412345678", first_name="Theirs")

    response = staff.put(by_phone("0412345678"), {"first_name": "Ours", "consent": CONSENT}, format="json")

    assert response.status_code == 201
    assert response.json()["id"] != theirs.pk
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"


# --- consent history --------------------------------------------------------------------------


def test_consent_history_and_a_withdrawal(staff, tenant):
    contact = ContactFactory(tenant=tenant, consent="express")

    withdrawn = staff.post(
        consent_url(contact),
        {**CONSENT, "source": "replied STOP", "captured_at": timezone.now().isoformat(), "withdrawn": True},
        format="json",
    )
    history = staff.get(consent_url(contact)).json()["results"]
    shown = staff.get(detail(contact)).json()

    assert withdrawn.status_code == 201
    assert withdrawn.json()["withdrawn"] is True
    assert [r["source"] for r in history] == ["replied STOP", "sign-up sheet"]
    assert set(history[0]) == {
        "id", "kind", "withdrawn", "source", "captured_at", "evidence", "source_import", "recorded_by", "created_at"
    }  # fmt: skip
    assert (shown["has_consent"], shown["consent_status"]) == (False, "withdrawn")
    assert AuditEvent.objects.filter(tenant=tenant, action="consent.withdrawn", target=contact.phone_e164).exists()


def test_consent_post_names_its_problems(staff, tenant):
    contact = ContactFactory(tenant=tenant)

    response = staff.post(consent_url(contact), {"kind": "express"}, format="json")

    assert response.status_code == 400
    assert {"source", "captured_at"} <= set(response.json()["fields"])
    assert not ConsentRecord.objects.filter(contact=contact).exists()


def test_consent_records_the_keys_creator_as_the_actor(tenant, owner):
    from tenants.apikeys import api_key_create

    _, key = api_key_create(tenant=tenant, name="forms", role="staff", actor=owner)
    contact = ContactFactory(tenant=tenant)

    response = api_client(key).post(consent_url(contact), CONSENT, format="json")

    assert response.status_code == 201
    assert response.json()["recorded_by"] == owner.email
    assert AuditEvent.objects.get(tenant=tenant, action="consent.recorded").actor == owner


def test_the_schema_describes_the_contacts_api(db):
    response = api_client().get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/v1/contacts/", "/api/v1/contacts/{id}/", "/api/v1/contacts/by-phone/{phone}/",
        "/api/v1/contacts/{contact_pk}/consent/", "/api/v1/do-not-contact/", "/api/v1/do-not-contact/{phone}/",
    } <= set(paths)  # fmt: skip
