"""Fixtures every app's tests share: two tenants, a user per role, service checks."""

import datetime as dt
import os
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache

from messaging.backends import locmem
from tenants.roles import Role
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory


def require_service(name: str, available: bool, why: str) -> None:
    """Skip a test whose service is absent, unless CI demands every service (then fail)."""
    if available:
        return
    message = f"{name} unavailable: {why}"
    if os.environ.get("SMSCRM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SMSCRM_REQUIRE_SERVICES=1: CI must not skip this)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached objects never leak from one test into another."""
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # django-redis: only our key prefix, never the whole Redis
    else:
        cache.clear()
    if settings.REDIS_URL:
        from messaging import ratelimit

        ratelimit.reset()  # the send rate limiter's keys (the database store goes with the test's rows)
        from messaging import handoff_permits

        handoff_permits.reset()  # the provider accounts' permits and adapted caps
    from messaging import webhooks

    webhooks.signers_forget()  # accounts the webhooks remembered, for rows rolled back since
    from links import middleware as link_hosts
    from links import views as link_views

    link_views._local.clear()  # short links a process remembered
    link_hosts.hosts_forget()
    _empty_click_queue()
    yield
    from messaging import handoff as engines

    engines.engines_close()  # a test's hand-off engine (event loop, HTTP sessions) ends with it
    _empty_click_queue()  # a click left behind would be recorded by a later test, for a tenant gone by then


def _empty_click_queue():
    from links import clicks

    clicks._local.clear()
    if settings.REDIS_URL:
        clicks._redis().delete(clicks.queue_key())


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Acme Bakery", slug="acme", business_name="Acme Bakery")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="Rival Florist", slug="rival", business_name="Rival Florist")


@pytest.fixture
def members(tenant):
    """One user per role in ``tenant``: {"viewer": user, "staff": ..., "admin": ..., "owner": ...}."""
    return {
        role.value: MembershipFactory(tenant=tenant, role=role, user=UserFactory(email=f"{role.value}@acme.test")).user
        for role in Role
    }


@pytest.fixture
def owner(members):
    return members[Role.OWNER]


@pytest.fixture
def staff_owner(owner):
    """The owner, also allowed into the (tenant-scoped) Django admin."""
    owner.is_staff = True
    owner.save()
    return owner


@pytest.fixture
def other_owner(other_tenant):
    """The owner of another tenant: every object of ``tenant`` must be a 404 for them."""
    return MembershipFactory(tenant=other_tenant, role=Role.OWNER, user=UserFactory(email="owner@rival.test")).user


@pytest.fixture
def api_keys(tenant):
    """One API key per key role of ``tenant``: {"viewer": "smk_…", "staff": …, "admin": …}."""
    from tenants.testing import API_ROLES, api_key_for

    return {role: api_key_for(tenant, role) for role in API_ROLES}


@pytest.fixture
def other_api_key(other_tenant):
    """An admin key of another tenant: every object of ``tenant`` must be a 404 for it."""
    from tenants.testing import api_key_for

    return api_key_for(other_tenant, "admin")


# 14:00 in Sydney (daylight saving, UTC+11) and 11:00 in Perth: inside the sending window everywhere.
NOON_SYDNEY = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _outbox():
    """The locmem provider's outbox, empty for every test."""
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def clock():
    with time_machine.travel(NOON_SYDNEY, tick=True) as traveller:
        yield traveller


# --- the browser (Playwright driving Debian's Chromium; never `playwright install`) ------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_TIMEOUT_MS = 5_000


@pytest.fixture
def browser_context(monkeypatch):
    """A fresh headless Chromium context (1280×800); the browser is closed whatever happens.

    Skipped (failed on CI, through ``require_service``) when Chromium is not installed.
    """
    from django.db import connections
    from playwright.sync_api import sync_playwright

    require_service("Chromium", CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; Django would refuse ORM calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(BROWSER_TIMEOUT_MS)
            yield context
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps this thread's DB connections in a
            # context-var store (asgiref Local); close them now, or they outlive the test and
            # PostgreSQL refuses to drop the test database ("being accessed by other users").
            connections.close_all()


@pytest.fixture
def page(browser_context):
    return browser_context.new_page()


# A failed browser test leaves what the browser showed: var/screenshots/failures/<test>.png and
# .html (CI keeps var/screenshots/ as its artefacts; var/ is git-ignored).
FAILURE_SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots" / "failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or item.get_closest_marker("browser") is None:
        return
    saved = _save_failed_pages(item)
    if saved:
        report.sections.append(("browser pages at failure", "\n".join(saved)))


def _save_failed_pages(item) -> list[str]:
    """Screenshot and HTML of every open Playwright page the test used (a fixture's or a journey's)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page

    pages = []
    for value in item.funcargs.values():
        for candidate in (value, getattr(value, "page", None)):
            if isinstance(candidate, Page) and candidate not in pages:
                pages.append(candidate)
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in item.nodeid)[-180:]
    saved = []
    for number, open_page in enumerate(pages):
        if open_page.is_closed():
            continue
        base = FAILURE_SHOTS / (stem + (f"-{number}" if number else ""))
        base.parent.mkdir(parents=True, exist_ok=True)
        try:
            open_page.screenshot(path=str(base.with_suffix(".png")), full_page=True)
            base.with_suffix(".html").write_text(open_page.content(), encoding="utf-8")
        except PlaywrightError as exc:  # a crashed page: say so, never hide the test's own failure
            saved.append(f"{open_page.url}: not saved ({exc})")
            continue
        saved.append(f"{open_page.url} → {base}.png, {base}.html")
    return saved


@pytest.fixture
def dead_broker():
    """Celery publishing for real, to a broker that refuses connections (nothing listens on port 1)."""
    from smscrm.testing.celery import publishing_to

    with publishing_to("redis://127.0.0.1:1/0") as app:
        yield app
