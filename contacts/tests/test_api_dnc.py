"""The do-not-contact API (issue 18): an order system checks a number with any key; admins add
numbers (one, or a list all-or-nothing) and lift them with a reason, as on the page."""

from urllib.parse import quote

import pytest

from contacts.models import DncReason, DoNotContact
from contacts.tests.factories import DoNotContactFactory
from tenants.models import AuditEvent
from tenants.testing import api_client, assert_api_roles

pytestmark = pytest.mark.django_db

LIST = "/api/v1/do-not-contact/"
ENTRY_FIELDS = {"id", "phone_e164", "reason", "note", "source", "added_by", "created_at"}


def entry_url(phone: str) -> str:
    return f"{LIST}{quote(phone, safe='')}/"


@pytest.fixture
def admin(api_keys):
    return api_client(api_keys["admin"])


@pytest.fixture
def viewer(api_keys):
    return api_client(api_keys["viewer"])


@pytest.fixture
def numbers():
    counter = iter(range(700, 10_000))
    return lambda: f"0413 {next(counter):06d}"


def listed(tenant) -> list[str]:
    return sorted(DoNotContact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))


# --- adding -----------------------------------------------------------------------------------


def test_add_one_number(admin, tenant):
    response = admin.post(LIST, {"phone": "0412 345 679"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == ENTRY_FIELDS
    assert (body["phone_e164"], body["reason"]) == ("+61412345679", "manual")
    assert listed(tenant) == ["+61412345679"]
    assert AuditEvent.objects.filter(tenant=tenant, action="dnc.added", target="+61412345679").exists()


def test_adding_a_listed_number_again_answers_its_entry(admin, tenant):
    entry = DoNotContactFactory(tenant=tenant, phone_e164="+61412345679", reason=DncReason.STOP_KEYWORD)

    response = admin.post(LIST, {"phone": "+61 412 345 679", "reason": "complaint"}, format="json")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["reason"]) == (entry.pk, "stop_keyword")
    assert listed(tenant) == ["+61412345679"]


def test_a_landline_may_be_listed(admin, tenant):
    """As on the page: any number that parses (it may become a mobile's number later)."""
    assert admin.post(LIST, {"phone": "02 9876 5432"}, format="json").status_code == 201


def test_reason_and_note_as_the_page_offers(admin, tenant):
    response = admin.post(
        LIST, {"phone": "0412345679", "reason": "complaint", "note": "rang to complain"}, format="json"
    )
    refused = admin.post(LIST, {"phone": "0412345680", "reason": "stop_keyword"}, format="json")

    assert (response.json()["reason"], response.json()["note"]) == ("complaint", "rang to complain")
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["reason"]


@pytest.mark.parametrize(
    "payload",
    [
        {"phone": "not a number"},
        {},
        {"phone": "0412345679", "phones": ["0412345680"]},
        {"phones": []},
        {"phones": ["", "  "]},
        {"phones": "0412345679"},
    ],
)
def test_add_refuses_what_is_not_one_number_or_a_list(admin, tenant, payload):
    response = admin.post(LIST, payload, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) <= {"phone", "phones"} and response.json()["fields"]
    assert listed(tenant) == []


def test_add_a_list(admin, tenant):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412000003")

    response = admin.post(
        LIST, {"phones": ["0412 000 001", "+61412000002", "61 412 000 003"], "reason": "complaint"}, format="json"
    )

    assert response.status_code == 201
    assert response.json() == {"added": 2, "already_listed": 1}
    assert listed(tenant) == ["+61412000001", "+61412000002", "+61412000003"]
    assert DoNotContact.objects.get(phone_e164="+61412000001").reason == DncReason.COMPLAINT


def test_a_list_already_listed_adds_nothing(admin, tenant):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412000001")

    response = admin.post(LIST, {"phones": ["0412000001"]}, format="json")

    assert (response.status_code, response.json()) == (200, {"added": 0, "already_listed": 1})


def test_a_list_with_bad_items_adds_nothing_and_names_their_positions(admin, tenant):
    response = admin.post(
        LIST, {"phones": ["0412 000 001", "hello", "0412 000 002", "0412000003, 0412000004"]}, format="json"
    )

    assert response.status_code == 400
    message = " ".join(response.json()["fields"]["phones"])
    assert "Nothing added" in message
    assert "phones[1]: 'hello'" in message and "phones[3]" in message
    assert "phones[0]" not in message and "phones[2]" not in message
    assert listed(tenant) == []


def test_adding_is_idempotent_with_a_key(admin, tenant):
    first = admin.post(LIST, {"phone": "0412345679"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = admin.post(LIST, {"phone": "0412345679"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"


def test_a_note_with_a_nul_character_is_refused(admin, tenant):
    response = admin.post(LIST, {"phone": "0412345679", "note": "rang\x00"}, format="json")

    assert response.status_code == 400 and list(response.json()["fields"]) == ["note"]
    assert listed(tenant) == []


def test_the_list_costs_the_same_queries_for_many_rows(viewer, tenant, members, django_assert_max_num_queries):
    for n in range(40):
        DoNotContactFactory(tenant=tenant, added_by=members["admin" if n % 2 else "staff"])

    with django_assert_max_num_queries(6):
        response = viewer.get(LIST)

    assert len(response.json()["results"]) == 40
    assert {e["added_by"] for e in response.json()["results"]} == {"admin@acme.test", "staff@acme.test"}


def test_only_admins_add_numbers_as_on_the_page(api_keys, numbers, tenant):
    """Perm.DNC_MANAGE: the page's own permission for adding numbers."""
    assert_api_roles(LIST, keys=api_keys, allowed={"admin"}, method="post", data=lambda: {"phone": numbers()})
    assert_api_roles(LIST, keys=api_keys, allowed={"admin"}, method="post", data=lambda: {"phones": [numbers()]})
    assert len(listed(tenant)) == 2


# --- checking a number ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["%2B61412345679", "+61412345679", "0412%20345%20679", "0412345679", "61412345679", "0412-345-679",
     "%252B61412345679", "+61%20(0)%20412%20345%20679"],
)  # fmt: skip
def test_a_listed_number_in_any_format(viewer, tenant, path):
    entry = DoNotContactFactory(tenant=tenant, phone_e164="+61412345679")

    response = viewer.get(f"{LIST}{path}/")

    assert response.status_code == 200, path
    assert response.json()["id"] == entry.pk
    assert response.json()["phone_e164"] == "+61412345679"


@pytest.mark.parametrize("path", ["%2B61412345680", "0412%20345%20680", "hello", "123", "%2B"])
def test_a_number_not_listed_or_no_number_is_not_found(viewer, tenant, path):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412345679")

    response = viewer.get(f"{LIST}{path}/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}


def test_another_tenants_listing_is_not_ours(viewer, other_tenant, other_api_key, tenant):
    DoNotContactFactory(tenant=other_tenant, phone_e164="+61412345679")
    DoNotContactFactory(tenant=tenant, phone_e164="+61412345680")

    assert viewer.get(entry_url("+61412345679")).status_code == 404
    assert api_client(other_api_key).get(entry_url("+61412345680")).status_code == 404
    assert [e["phone_e164"] for e in viewer.get(LIST).json()["results"]] == ["+61412345680"]


def test_every_role_checks_and_lists(api_keys, tenant):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412345679")

    assert_api_roles(entry_url("0412 345 679"), keys=api_keys, allowed={"viewer", "staff", "admin"})
    assert_api_roles(LIST, keys=api_keys, allowed={"viewer", "staff", "admin"})


def test_the_list_newest_first(viewer, tenant):
    entries = [DoNotContactFactory(tenant=tenant) for _ in range(3)]

    body = viewer.get(LIST).json()

    assert [e["id"] for e in body["results"]] == [e.pk for e in reversed(entries)]
    assert set(body["results"][0]) == ENTRY_FIELDS


# --- lifting ----------------------------------------------------------------------------------


def test_lift_with_a_reason_in_the_body(admin, tenant):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412345679")

    response = admin.delete(entry_url("0412 345 679"), {"reason": "asked to rejoin by phone"}, format="json")

    assert response.status_code == 204
    assert listed(tenant) == []
    event = AuditEvent.objects.get(tenant=tenant, action="dnc.removed")
    assert (event.target, event.data["reason"]) == ("+61412345679", "asked to rejoin by phone")


def test_lift_with_a_reason_in_the_query_string(admin, tenant):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412345679")

    response = admin.delete(f"{entry_url('+61412345679')}?reason=signed%20up%20again")

    assert response.status_code == 204
    assert listed(tenant) == []


@pytest.mark.parametrize("body", [None, {}, {"reason": "   "}, {"reason": None}, {"reason": "rejoined\x00"}])
def test_lifting_needs_a_reason(admin, tenant, body):
    DoNotContactFactory(tenant=tenant, phone_e164="+61412345679")

    response = admin.delete(entry_url("+61412345679"), body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["reason"]
    assert listed(tenant) == ["+61412345679"]


def test_lifting_a_number_not_listed_is_not_found(admin, tenant, other_tenant):
    DoNotContactFactory(tenant=other_tenant, phone_e164="+61412345679")

    response = admin.delete(entry_url("+61412345679"), {"reason": "x"}, format="json")

    assert response.status_code == 404
    assert DoNotContact.objects.filter(tenant=other_tenant).exists()


def test_only_admins_lift_numbers(api_keys, tenant, numbers):
    def listed_number():
        return entry_url(DoNotContactFactory(tenant=tenant).phone_e164)

    assert_api_roles(listed_number, keys=api_keys, allowed={"admin"}, method="delete", data={"reason": "rejoined"})
