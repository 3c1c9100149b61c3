"""The REST API's plumbing: keys, roles, errors, idempotency, throttling, the schema."""

import threading
from datetime import timedelta

import pytest
import time_machine
import yaml
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from openapi_spec_validator import validate

from conftest import require_service
from tenants.apikeys import api_key_create, api_key_find, api_key_revoke
from tenants.models import ApiKey, AuditEvent, IdempotencyRecord
from tenants.services import TenantAction
from tenants.testing import api_client, api_key_for, assert_roles, client_for

PROBES = "/api/v1/probes/"
probe_urls = pytest.mark.urls("tenants.tests.api_probe_urls")


def probes_made(tenant) -> int:
    return AuditEvent.objects.filter(tenant=tenant, action="probe.created").count()


# --- Keys ----------------------------------------------------------------------------------------


def test_a_key_is_shown_once_and_only_its_hash_is_kept(tenant, members):
    api_key, key = api_key_create(tenant=tenant, name="Website form", role="staff", actor=members["admin"])
    assert key.startswith(f"smk_{api_key.prefix}_") and len(key) > 40
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert key not in {str(value) for value in stored.values()}
    event = AuditEvent.objects.get(tenant=tenant, action=TenantAction.API_KEY_CREATED)
    assert (event.actor, event.target, event.data["role"]) == (members["admin"], "Website form", "staff")
    assert key not in str(event.data)
    assert api_key_find(key) == api_key


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"role": "owner", "name": "x"}, "role"), ({"role": "staff", "name": "  "}, "name")],
)
def test_a_key_needs_a_name_and_a_role_below_owner(tenant, kwargs, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as raised:
        api_key_create(tenant=tenant, **kwargs)
    assert field in raised.value.message_dict
    assert not ApiKey.objects.exists()


@probe_urls
def test_no_key_a_bad_key_a_revoked_and_an_expired_key_are_401(tenant):
    response = api_client().get(PROBES)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'

    api_key, key = api_key_create(tenant=tenant, name="k", role="viewer", expires_at=timezone.now() + timedelta(days=1))
    assert api_client(key).get(PROBES).status_code == 200
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for bad in (wrong, "smk_nonsense", "x" * 500, ""):
        response = api_client(bad).get(PROBES)
        assert response.status_code == 401, bad
    assert api_client(wrong).get(PROBES).json()["code"] == "authentication_failed"

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        response = api_client(key).get(PROBES)
        assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")

    api_key_revoke(api_key=api_key)
    assert api_client(key).get(PROBES).status_code == 401


@probe_urls
def test_the_api_key_scheme_is_accepted_too(tenant):
    key = api_key_for(tenant, "viewer")
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get(PROBES).status_code == 200


@probe_urls
def test_a_key_acts_in_its_role_and_only_in_its_tenant(tenant, other_tenant, api_keys, other_api_key):
    response = api_client(api_keys["viewer"]).post(PROBES, {"target": "x"}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "code": "permission_denied",
        "message": "Your role (viewer) may not do this.",
        "fields": {},
    }
    assert api_client(api_keys["staff"]).post(PROBES, {"target": "x"}, format="json").status_code == 201
    made = AuditEvent.objects.get(action="probe.created")
    assert made.tenant == tenant
    assert api_client(other_api_key).get(f"{PROBES}{made.pk}/").status_code == 404
    assert api_client(api_keys["viewer"]).get(f"{PROBES}{made.pk}/").status_code == 200
    listed = api_client(other_api_key).get(PROBES).json()["results"]
    assert made.pk not in {row["id"] for row in listed}


@probe_urls
def test_last_used_is_written_at_most_once_a_minute(tenant):
    api_key, key = api_key_create(tenant=tenant, name="k", role="viewer")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api_client(key).get(PROBES)
        api_client(key).get(PROBES)
    api_key.refresh_from_db()
    assert api_key.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        api_client(key).get(PROBES)
    api_key.refresh_from_db()
    assert api_key.last_used_at == start + timedelta(seconds=61)


# --- Errors --------------------------------------------------------------------------------------


@probe_urls
def test_a_service_refusal_is_a_400_in_the_one_error_shape(api_keys):
    response = api_client(api_keys["staff"]).post(PROBES, {"target": "refuse"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "Some fields are not valid: target.",
        "fields": {"target": ["The service refuses this target."]},
    }
    response = api_client(api_keys["staff"]).post(PROBES, "{not json", content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")


# --- Sessions ------------------------------------------------------------------------------------


@probe_urls
def test_the_browser_session_works_with_csrf_on(tenant, members):
    assert client_for(members["viewer"]).get(PROBES).status_code == 200
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(members["staff"])
    response = csrf_client.post(PROBES, {"target": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert probes_made(tenant) == 0


# --- Idempotency ---------------------------------------------------------------------------------


@probe_urls
def test_the_same_key_and_body_replays_the_first_response(tenant, api_keys):
    client = api_client(api_keys["staff"])
    first = client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert probes_made(tenant) == 1

    different = client.post(PROBES, {"target": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert (different.status_code, different.json()["code"]) == (422, "idempotency_key_reused")
    assert probes_made(tenant) == 1

    # Another API key has its own keys; no header is no idempotency.
    other = api_client(api_keys["admin"]).post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    client.post(PROBES, {"target": "a"}, format="json")
    assert probes_made(tenant) == 3


@probe_urls
def test_a_refused_request_keeps_nothing_so_the_key_can_be_retried(tenant, api_keys):
    client = api_client(api_keys["staff"])
    refused = client.post(PROBES, {"target": "refuse"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert refused.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    fixed = client.post(PROBES, {"target": "fine"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert fixed.status_code == 201


@probe_urls
def test_a_key_is_forgotten_after_24_hours(tenant, api_keys):
    client = api_client(api_keys["staff"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert probes_made(tenant) == 1
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert probes_made(tenant) == 2


@probe_urls
@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_with_one_key_make_one_object(tenant):
    require_service("PostgreSQL", connection.vendor == "postgresql", "row-level waiting on the unique index")
    key = api_key_for(tenant, "staff")
    start = threading.Barrier(2)
    responses = []

    def post():
        start.wait()
        try:
            response = api_client(key).post(PROBES, {"target": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="twice")
            responses.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(responses) == 2
    assert responses[0] == responses[1]
    assert responses[0][0] == 201
    assert probes_made(tenant) == 1


# --- Throttling ----------------------------------------------------------------------------------


@probe_urls
def test_over_the_rate_a_key_gets_429_with_retry_after(tenant, api_keys, monkeypatch):
    from tenants.api.throttling import ApiClientThrottle

    monkeypatch.setattr(ApiClientThrottle, "THROTTLE_RATES", {"api": "3/min"})
    client = api_client(api_keys["viewer"])
    assert [client.get(PROBES).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(PROBES)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    # Each key has its own allowance.
    assert api_client(api_keys["staff"]).get(PROBES).status_code == 200


# --- The command and the page --------------------------------------------------------------------


@probe_urls
def test_the_command_prints_the_key_alone_on_its_last_line(tenant, capsys):
    call_command("api_key", "create", "--tenant", tenant.slug, "--role", "staff", "--name", "Shop")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert api_client(key).get(PROBES).status_code == 200
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.role, api_key.created_by) == ("Shop", "staff", None)
    call_command("api_key", "revoke", "--tenant", tenant.slug, "--prefix", api_key.prefix)
    assert api_client(key).get(PROBES).status_code == 401


def test_admins_create_and_revoke_keys_on_the_settings_page(tenant, members, other_owner):
    assert_roles("/settings/api-keys/", members=members, allowed=["admin", "owner"])
    client = client_for(members["admin"])
    response = client.post("/settings/api-keys/", {"name": "Booking system", "role": "viewer", "expires_on": ""})
    assert response.status_code == 200
    api_key = ApiKey.objects.get()
    key = response.context["new_key"]
    assert key.startswith(f"smk_{api_key.prefix}_")
    assert key in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert key not in client.get("/settings/api-keys/").content.decode()

    assert client_for(other_owner).post(f"/settings/api-keys/{api_key.pk}/revoke/").status_code == 404
    assert client.post(f"/settings/api-keys/{api_key.pk}/revoke/").status_code == 302
    api_key.refresh_from_db()
    assert (api_key.revoked_by, api_key.revoked_at is not None) == (members["admin"], True)
    assert AuditEvent.objects.filter(tenant=tenant, action=TenantAction.API_KEY_REVOKED).count() == 1


def test_the_page_names_a_bad_role(tenant, members):
    response = client_for(members["admin"]).post("/settings/api-keys/", {"name": "x", "role": "owner"})
    assert response.status_code == 400
    assert "role" in response.context["form"].errors
    assert not ApiKey.objects.exists()


# --- The OpenAPI document ------------------------------------------------------------------------


@probe_urls
@pytest.mark.django_db
def test_the_schema_is_valid_openapi_and_its_docs_page_needs_no_cdn():
    response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    validate(document)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from Settings › API keys: `Authorization: Bearer smk_…`.",
    }
    create = document["paths"]["/api/v1/probes/"]["post"]
    assert {"400", "401", "403", "422", "429"} <= set(create["responses"])
    assert "Idempotency-Key" in {parameter["name"] for parameter in create["parameters"]}
    docs = Client().get("/api/v1/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "https://" not in page


@probe_urls
def test_the_hourly_purge_forgets_keys_older_than_a_day(tenant, api_keys):
    from tenants.tasks import idempotency_purge

    client = api_client(api_keys["staff"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    with time_machine.travel(start + timedelta(hours=12), tick=False):
        client.post(PROBES, {"target": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="new")
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        assert idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@probe_urls
def test_a_nul_anywhere_is_refused_at_the_edge_in_the_api_error_shape(tenant, api_keys):
    client = api_client(api_keys["staff"])
    response = client.get(PROBES, {"q": "a\x00b"})
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")
    assert response.json()["message"] == "The request contains a NUL character, which no field accepts."
    for response in (
        client.post(PROBES, {"target": "a\x00b"}, format="json"),
        client.post(PROBES, {"target": {"deep": ["x\x00"]}}, format="json"),
        client.post(PROBES, {"tar\x00get": "ab"}, format="json"),
        client.post(PROBES, {"target": "a\x00b"}, format="multipart"),
    ):
        assert response.status_code == 400
        assert response.json() == {
            "code": "validation_error",
            "message": "Some fields are not valid: target.",
            "fields": {"target": ["Null characters are not allowed."]},
        }
    assert probes_made(tenant) == 0


@probe_urls
def test_a_body_with_too_many_fields_is_a_json_400(tenant, api_keys):
    fields = {f"field{n}": "x" for n in range(1200)}
    response = api_client(api_keys["staff"]).post(PROBES, fields, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in body["message"]
    assert probes_made(tenant) == 0


def test_what_a_key_does_is_audited_with_the_key_even_without_a_person(tenant):
    from contacts.services import ContactAction

    api_key, key = api_key_create(tenant=tenant, name="Website form", role="staff")  # as manage.py makes it
    response = api_client(key).post(
        "/api/v1/contacts/",
        {
            "phone": "0412 345 678",
            "consent": {"kind": "express", "source": "web form", "captured_at": "2026-01-31T10:00:00+11:00"},
        },
        format="json",
    )
    assert response.status_code == 201
    events = AuditEvent.objects.filter(tenant=tenant, target="+61412345678")
    assert {event.action for event in events} == {ContactAction.CONTACT_CREATED, ContactAction.CONSENT_RECORDED}
    assert {event.data["api_key"] for event in events} == {f"Website form (smk_{api_key.prefix}…)"}
    assert {event.actor for event in events} == {None}
    # The next request, signed in as a person, is not attributed to the key.
    from tenants.acting import acting_api_key

    assert acting_api_key.get() is None
