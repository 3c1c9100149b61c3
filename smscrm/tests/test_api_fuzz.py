"""The whole REST API fuzzed from its own OpenAPI document (schemathesis), with a key of each
role: no request may get a 5xx, and every response must be one the document describes (status
code, content type, headers and body). ``API_FUZZ_EXAMPLES`` bounds the examples per operation.

Requests go to the app through WSGI in the test's own transaction, against a tenant with a
contact, a do-not-contact entry, a template and a campaign, so detail routes meet real rows.
"""

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tenants.testing import API_ROLES, api_key_for

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "6"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def api_document(urlconf=None):
    """The OpenAPI document as /api/v1/schema/ serves it, its operations called through WSGI."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from smscrm.wsgi import application

    document = SchemaGenerator(urlconf=urlconf).get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = application
    return loaded


@pytest.fixture
def wsgi_keeps_the_connection():
    """Called through WSGI, the app would close the test's database connection after each
    request; Django's test client keeps it open the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


schema = api_document()


@pytest.fixture
def fuzz_keys(tenant, monkeypatch, wsgi_keeps_the_connection):
    from tenants.api.throttling import ApiClientThrottle

    monkeypatch.setattr(ApiClientThrottle, "THROTTLE_RATES", {"api": "100000/min"})
    _seed(tenant)
    return {role: api_key_for(tenant, role) for role in API_ROLES}


def _seed(tenant) -> None:
    from campaigns.tests.factories import CampaignFactory
    from contacts.tests.factories import ContactFactory, DoNotContactFactory

    ContactFactory(tenant=tenant)
    DoNotContactFactory(tenant=tenant)
    CampaignFactory(tenant=tenant)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_no_request_breaks_the_api_or_its_document(case, fuzz_keys):
    for role in API_ROLES:
        case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_keys[role]}"}, checks=CHECKS)
