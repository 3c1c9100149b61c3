"""A tenant's short domain can never take the application (or another tenant's domain) away.

The attack these reproduce: a tenant admin set Settings › short domain to the application's own
host, and a minute later every request on that host (sign-in, admin, health, the provider's
webhooks) was answered as a short link: 404 for every tenant, STOP replies lost.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from links.middleware import hosts_forget, short_hosts
from links.tests.test_links import a_link
from tenants import services
from tenants.hosts import normalize_host
from tenants.models import Tenant
from tenants.testing import client_for

APP = "crm.example.com"


@pytest.fixture(autouse=True)
def _app_host(settings):
    settings.PUBLIC_BASE_URL = f"https://{APP}"
    settings.ALLOWED_HOSTS = [APP, "www.crm.example.com", "go.acme.example", "sms.example", "testserver"]
    settings.APP_HOSTS = ["www.crm.example.com"]
    hosts_forget()
    yield
    hosts_forget()


def settings_form(tenant, **changes):
    """What the settings page posts when only ``changes`` were edited."""
    data = {field: getattr(tenant, field) for field in services.SETTINGS_FIELDS}
    data.update(changes)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    "domain",
    [APP, "CRM.Example.com", f"{APP}.", "links.crm.example.com", "www.crm.example.com", "a.www.crm.example.com"],
)
def test_the_application_host_or_a_name_under_it_is_refused_by_the_model(tenant, domain):
    with pytest.raises(ValidationError) as refused:
        services.tenant_update_settings(tenant=tenant, actor=None, short_domain=domain)
    assert "this application's own address" in " ".join(refused.value.messages)
    tenant.refresh_from_db()
    assert tenant.short_domain == ""


@pytest.mark.django_db
def test_the_settings_page_refuses_the_app_host_with_the_reason_on_the_field(tenant, members):
    response = client_for(members["admin"]).post(reverse("tenants:settings"), settings_form(tenant, short_domain=APP))
    assert response.status_code == 400
    assert "this application" in " ".join(response.context["form"].errors["short_domain"])
    tenant.refresh_from_db()
    assert tenant.short_domain == ""


@pytest.mark.django_db
def test_the_admin_refuses_the_app_host_on_its_form(tenant, members):
    admin = members["admin"]
    admin.is_staff = True
    admin.save()
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    client = client_for(admin)
    page = client.get(url)
    data = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    data["short_domain"] = APP
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with the error; never "changed successfully"
    assert "this application" in " ".join(response.context["adminform"].form.errors["short_domain"])
    tenant.refresh_from_db()
    assert tenant.short_domain == ""


@pytest.mark.django_db
def test_another_tenants_domain_or_a_name_under_it_is_refused(tenant, other_tenant):
    services.tenant_update_settings(tenant=other_tenant, actor=None, short_domain="go.rival.example")
    for domain in ("go.rival.example", "x.go.rival.example", "GO.RIVAL.EXAMPLE."):
        with pytest.raises(ValidationError) as refused:
            services.tenant_update_settings(tenant=tenant, actor=None, short_domain=domain)
        assert "short_domain" in refused.value.error_dict


@pytest.mark.django_db
@override_settings(SHORT_DOMAIN="sms.example")
def test_the_shared_short_domain_is_not_a_tenants_own(tenant):
    with pytest.raises(ValidationError):
        services.tenant_update_settings(tenant=tenant, actor=None, short_domain="sms.example")


@pytest.mark.django_db
def test_a_short_domain_is_stored_normalised(tenant):
    services.tenant_update_settings(tenant=tenant, actor=None, short_domain=" Go.Acme.Example. ")
    tenant.refresh_from_db()
    assert tenant.short_domain == "go.acme.example"


@pytest.mark.django_db
def test_the_middleware_never_shadows_the_application_whatever_the_database_says(client, tenant, other_tenant):
    # Written behind the model's back (an old row, a raw UPDATE): the application still answers.
    Tenant.objects.filter(pk=tenant.pk).update(short_domain=APP)
    Tenant.objects.filter(pk=other_tenant.pk).update(short_domain="www.crm.example.com")
    hosts_forget()
    assert APP not in short_hosts() and "www.crm.example.com" not in short_hosts()
    assert client.get("/health/live", HTTP_HOST=APP).status_code == 200
    assert client.get(reverse("tenants:login"), HTTP_HOST=APP).status_code == 200
    assert client.get(reverse("tenants:login"), HTTP_HOST=f"{APP}.").status_code == 200
    # The provider's webhooks still reach the signature check (403 unsigned), not a short-link 404.
    response = client.post(reverse("messaging:inbound_webhook"), {"Body": "STOP"}, HTTP_HOST=APP)
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["go.acme.example.", "GO.ACME.EXAMPLE", "go.acme.example:443", "go.acme.example.:80"])
def test_a_short_domain_in_any_spelling_serves_only_links(client, tenant, host):
    services.tenant_update_settings(tenant=tenant, actor=None, short_domain="go.acme.example")
    hosts_forget()
    a_link(tenant, token="AcmeToken1")
    assert client.get("/AcmeToken1", HTTP_HOST=host).status_code == 302
    assert client.get("/login/", HTTP_HOST=host).status_code == 404  # never the application
    assert client.get("/admin/", HTTP_HOST=host).status_code == 404


@pytest.mark.django_db
def test_only_health_itself_passes_a_short_domain_by(client, tenant):
    """/health and /health/live answer on every host; a link whose token starts with "health" is a
    link, and any other path that merely starts so is the short domain's 404, not the application."""
    services.tenant_update_settings(tenant=tenant, actor=None, short_domain="go.acme.example")
    hosts_forget()
    a_link(tenant, token="healthTip1")
    assert client.get("/healthTip1", HTTP_HOST="go.acme.example").status_code == 302
    assert client.get("/health/live", HTTP_HOST="go.acme.example").status_code == 200
    for path in ("/healthz", "/health/../admin/", "/health/live/../../login/", "/health%2F..%2Fadmin/"):
        response = client.get(path, HTTP_HOST="go.acme.example")
        assert (response.status_code, response.content) == (404, b"Not found"), path


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("Go.Acme.Example.", "go.acme.example"),
        ("go.acme.example:8443", "go.acme.example"),
        ("go.acme.example.:8443", "go.acme.example"),
        ("[::1]:8000", "[::1]"),
        ("", ""),
    ],
)
def test_normalize_host(raw, host):
    assert normalize_host(raw) == host


# --- unknown tokens ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_tokens_never_reach_the_shared_cache(client, tenant):
    from django.core.cache import cache

    for n in range(50):
        assert client.get(f"/s/Unknown{n:03d}", REMOTE_ADDR=f"198.51.100.{n}").status_code == 404
        assert cache.get(f"shortlink:Unknown{n:03d}") is None
    a_link(tenant, token="KnownToken")
    assert client.get("/s/KnownToken").status_code == 302
    assert cache.get("shortlink:KnownToken")["to"] == "https://acme.example/sale"  # real links are shared


@pytest.mark.django_db
def test_a_visitor_guessing_tokens_is_throttled_before_any_query(client, tenant, settings, django_assert_num_queries):
    settings.SHORT_LINK_MISSES_PER_MINUTE = 5
    a_link(tenant, token="KnownToken")
    for n in range(5):
        assert client.get(f"/s/Guess{n:05d}", REMOTE_ADDR="203.0.113.7").status_code == 404
    with django_assert_num_queries(0):
        refused = client.get("/s/Guess99999", REMOTE_ADDR="203.0.113.7")
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    # Everyone else, and real links, are unaffected.
    assert client.get("/s/KnownToken", REMOTE_ADDR="192.0.2.1").status_code == 302
    assert client.get("/s/Guess00100", REMOTE_ADDR="192.0.2.1").status_code == 404


@pytest.mark.django_db
def test_the_missing_link_page_allows_only_its_own_style(client):
    import base64
    import hashlib
    import re

    response = client.get("/s/NoSuchTok1")
    assert response.status_code == 404
    style = re.search(r"<style>(.*?)</style>", response.content.decode(), re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert response["Content-Security-Policy"].startswith(f"default-src 'none'; style-src 'sha256-{digest}'")
