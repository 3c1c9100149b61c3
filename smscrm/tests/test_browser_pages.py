"""Every page, on a desktop (1280×800) and a phone (390×844): axe-core finds nothing, and on the
phone no page scrolls sideways and the menu folds away behind one button.

Drives Debian's headless Chromium (/usr/bin/chromium) through Playwright against pytest-django's
live server, signed in as the owner of a tenant populated like the security crawl's
(``crawl_data.populate`` with ordinary words). Never run `playwright install`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignStatus
from reporting.models import CampaignStats
from smscrm.testing.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe_violations,
    sideways_overflow,
    widest_elements,
)
from smscrm.tests.crawl_data import PlainTexts, populate, record_heartbeats
from smscrm.tests.test_browser_csp import html_pages
from tenants.services import login_link_build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots" / "pages"  # of the pages that fail
MENU_HEIGHT_PX = 80  # the phone's top bar, menu folded: brand and the menu button on one line


def main_pages(data) -> list[str]:
    """The pages a business owner uses, one of each kind."""
    contact, campaign, contact_import = data.contact, data.running_campaign, data.contact_import
    return [
        reverse("reporting:dashboard"),
        reverse("contacts:list"),
        reverse("contacts:detail", args=[contact.pk]),
        reverse("contacts:create"),
        reverse("contacts:edit", args=[contact.pk]),
        reverse("contacts:imports"),
        reverse("contacts:import", args=[contact_import.pk]),
        reverse("contacts:dnc"),
        reverse("campaigns:list"),
        reverse("campaigns:detail", args=[campaign.pk]),
        reverse("campaigns:detail", args=[data.draft_campaign.pk]),
        reverse("campaigns:create"),
        reverse("campaigns:edit", args=[data.draft_campaign.pk]),
        reverse("campaigns:launch", args=[data.draft_campaign.pk]),
        reverse("campaigns:templates"),
        reverse("campaigns:template_create"),
        reverse("campaigns:template", args=[data.template.pk]),
        reverse("reporting:campaign_report", args=[campaign.pk]),
        reverse("messaging:inbox"),
        reverse("tenants:settings"),
        reverse("tenants:members"),
        reverse("tenants:activity"),
        reverse("reporting:pilot_check"),
        reverse("campaigns:numbers"),
        reverse("tenants:choose"),
    ]


def sign_in(browser_context, live_server, settings, owner) -> None:
    """The owner's session cookie, in the browser (the magic link itself has its own test)."""
    client = Client()
    client.force_login(owner)
    host = live_server.url.split("//", 1)[1].split(":")[0]
    browser_context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "domain": host, "path": "/"}]
    )  # fmt: skip


def check(page, url: str, viewport: dict, problems: list[str]) -> None:
    """Open ``url`` at ``viewport`` and add what is wrong with it to ``problems``."""
    page.set_viewport_size(viewport)
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        problems.append(f"{url} at {viewport['width']}×{viewport['height']}: status {response and response.status}")
        return
    inspect(page, viewport, problems)


def inspect(page, viewport: dict, problems: list[str]) -> None:
    """Add what is wrong with the page as shown now to ``problems``, with a screenshot of it."""
    where = f"{page.url} at {viewport['width']}×{viewport['height']}"
    found = []
    if viewport == PHONE and (overflow := sideways_overflow(page)):
        found.append(f"{where}: scrolls sideways by {overflow}px ({'; '.join(widest_elements(page))})")
    if violations := axe_violations(page):
        found.append(f"{where}: axe-core:\n{describe_violations(violations)}")
    if found:  # a picture of what is wrong, for CI's artefacts
        path = page.url.split("//", 1)[-1].split("/", 1)[-1].lower()
        name = re.sub(r"[^a-z0-9]+", "-", path).strip("-") or "home"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport['width']}.png"), full_page=True)
    problems += found


def test_every_main_page_fits_a_phone_and_passes_axe(
    live_server, browser_context, settings, tmp_path, clock, tenant, owner
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    record_heartbeats()
    data = populate(tenant, owner=owner, texts=PlainTexts(), slot=1, workdir=tmp_path)
    sign_in(browser_context, live_server, settings, owner)
    page = browser_context.new_page()

    # The main pages, then every other page the security crawl finds (confirmations, a template…),
    # so that a new page is checked without anyone adding it here. The Django admin is not ours to style.
    pages = main_pages(data)
    pages += [path for path in html_pages(owner, data) if path not in pages and not path.startswith("/admin/")]
    problems: list[str] = []
    for path in pages:
        for viewport in (DESKTOP, PHONE):
            check(page, live_server.url + path, viewport, problems)

    # A page showing what an action did (the messages above the content, and the paused banner).
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        for confirm, button in (("tenants:pause", "Yes, pause sending"), ("tenants:resume", "Yes, resume sending")):
            page.goto(live_server.url + reverse(confirm), wait_until="load")
            with page.expect_navigation(wait_until="load"):  # styles applied before anything is measured
                page.get_by_role("button", name=button).click()
            expect(page.get_by_role("status").locator(".message")).to_have_count(1)
            inspect(page, viewport, problems)

    # The pages of someone not signed in: sign-in, the e-mailed link's "Continue", an invitation.
    link = "/" + login_link_build(user=owner).split("//", 1)[1].split("/", 1)[1]
    stranger = browser_context.browser.new_context()
    try:
        for path in (reverse("tenants:login"), link, reverse("tenants:invitation", args=[data.invitation_token])):
            for viewport in (DESKTOP, PHONE):
                check(stranger.new_page(), live_server.url + path, viewport, problems)
    finally:
        stranger.close()
    assert problems == [], "\n".join(problems)


def test_the_phone_menu_folds_behind_a_button_and_marks_the_current_page(
    live_server, browser_context, settings, tenant, owner
):
    sign_in(browser_context, live_server, settings, owner)
    page = browser_context.new_page()
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + reverse("contacts:list"), wait_until="load")

    menu_button = page.get_by_role("button", name="Menu")
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    menu = page.locator("#" + menu_button.get_attribute("aria-controls"))
    expect(menu).to_be_hidden()
    assert page.locator("header.topbar").bounding_box()["height"] <= MENU_HEIGHT_PX

    menu_button.click()
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    current = menu.locator("[aria-current=page]")
    expect(current).to_have_count(1)
    expect(current).to_have_text("Contacts")
    assert sideways_overflow(page) == 0

    menu_button.click()
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()

    # On a desktop the menu is always there, and the button is not.
    page.set_viewport_size(DESKTOP)
    expect(menu).to_be_visible()
    expect(menu_button).to_be_hidden()


def hide_tab(page, hidden: bool) -> None:
    """What the browser does when the reader switches tabs (headless Chromium's tab never hides)."""
    page.evaluate(
        """(hidden) => {
          const state = hidden ? 'hidden' : 'visible';
          Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


def test_a_running_campaigns_report_refreshes_in_place_while_the_tab_is_visible(
    live_server, browser_context, settings, tmp_path, clock, tenant, owner
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    data = populate(tenant, owner=owner, texts=PlainTexts(), slot=1, workdir=tmp_path)
    campaign = data.running_campaign
    assert campaign.status == CampaignStatus.RUNNING
    sign_in(browser_context, live_server, settings, owner)
    page = browser_context.new_page()
    page.clock.install()
    page.goto(live_server.url + reverse("reporting:campaign_report", args=[campaign.pk]), wait_until="load")

    assert page.locator("meta[http-equiv]").count() == 0
    expect(page.get_by_role("progressbar", name="Jobs done")).to_be_visible()
    as_of = page.locator("#figures-as-of")
    expect(as_of).to_contain_text("they refresh every 30 seconds while the campaign runs")
    page.evaluate("window.notReloaded = true")
    decisions, reasons = page.locator("#funnel details").nth(0), page.locator("#funnel details").nth(1)
    expect(decisions).to_have_attribute("open", "")
    expect(reasons).not_to_have_attribute("open", "")
    decisions.locator("summary").click()  # the reader closes one and opens the other: they stay so
    reasons.locator("summary").click()

    def figures_at(minutes: int) -> str:
        at = dt.datetime(2026, 11, 25, 3, minutes, tzinfo=dt.UTC)  # 14:mm in Sydney, ahead of the clock
        CampaignStats.objects.filter(campaign=campaign).update(computed_at=at)
        return f"Figures as of 25 Nov 2026 14:{minutes:02d}:00"

    # Visible: fresh figures after 30 seconds, swapped into the page without reloading it.
    newer = figures_at(7)
    page.clock.fast_forward(31_000)
    expect(as_of).to_contain_text(newer)
    assert page.evaluate("window.notReloaded") is True
    expect(decisions).not_to_have_attribute("open", "")
    expect(reasons).to_have_attribute("open", "")

    # Hidden: no polling at all; shown again: fresh figures at once.
    hide_tab(page, True)
    later = figures_at(8)
    page.clock.fast_forward(120_000)
    expect(as_of).to_contain_text(newer)
    hide_tab(page, False)
    expect(as_of).to_contain_text(later)

    # Finished: updated one last time, then no more polling.
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)
    page.clock.fast_forward(31_000)
    expect(as_of).not_to_contain_text("refresh every")
    expect(page.locator("[data-refresh-seconds]")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True


def hold_requests(page, pattern: str) -> list:
    """Requests to ``pattern`` are held, unanswered, in the returned list (``route.continue_()`` sends one on)."""
    held = []

    def hold(route):
        held.append(route)

    page.route(pattern, hold)
    return held


def wait_for(page, condition, what: str, timeout_s: float = 10.0) -> None:
    """Let Playwright deliver its events until ``condition()`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(20)


def test_the_api_docs_page_passes_axe_before_and_after_swagger_ui_draws_it(
    live_server, browser_context, settings, owner
):
    # Swagger UI draws the page from the schema after "load": the every-page walk can reach axe before
    # or after it has (CI met the drawn page with 6 kinds of violation, then the blank one with no
    # <main>). So this checks the page while the schema is held back, then waits for the operations
    # and opens a list (run with "Try it out"), a create's request body, the Authorize dialog and a schema.
    sign_in(browser_context, live_server, settings, owner)
    page = browser_context.new_page()
    problems: list[str] = []
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        held = hold_requests(page, "**/api/v1/schema/**")  # the page as it is until Swagger can draw
        page.goto(live_server.url + reverse("api:docs"), wait_until="load")
        wait_for(page, lambda held=held: len(held) == 1, "Swagger UI asks for the schema")
        inspect(page, viewport, problems)
        held[0].continue_()
        page.unroute("**/api/v1/schema/**")
        expect(page.locator(".opblock").first).to_be_visible()
        expect(page.locator(".info .title")).to_be_visible()
        inspect(page, viewport, problems)

        for operation in ("#operations-campaigns-campaigns_list", "#operations-campaigns-campaigns_create"):
            page.locator(f"{operation} .opblock-summary-control").click()
            expect(page.locator(f"{operation} .opblock-body")).to_be_visible()
        page.locator("#operations-campaigns-campaigns_create .try-out__btn").click()
        expect(page.locator("#operations-campaigns-campaigns_create textarea.body-param__text")).to_be_visible()
        listing = page.locator("#operations-campaigns-campaigns_list")
        listing.locator(".try-out__btn").click()
        listing.locator(".btn.execute").click()  # as the signed-in owner
        expect(listing.locator(".live-responses-table tr.response td.response-col_status")).to_have_text("200")
        inspect(page, viewport, problems)

        page.locator(".btn.authorize").click()
        expect(page.locator(".dialog-ux .modal-ux")).to_be_visible()
        inspect(page, viewport, problems)
        page.locator(".dialog-ux .close-modal").click()

        expect(page.locator("section.models .model-container").first).to_be_visible()  # open at first
        page.locator("#model-Campaign .model-box-control").click()
        expect(page.locator("#model-Campaign .inner-object")).to_be_visible()
        inspect(page, viewport, problems)
    assert problems == [], "\n".join(problems)


def test_the_api_docs_page_passes_axe_when_the_schema_cannot_be_loaded(live_server, browser_context, settings, owner):
    sign_in(browser_context, live_server, settings, owner)
    page = browser_context.new_page()
    page.route("**/api/v1/schema/**", lambda route: route.abort())
    problems: list[str] = []
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.goto(live_server.url + reverse("api:docs"), wait_until="load")
        expect(page.get_by_role("alert")).to_contain_text("Failed to load API definition")
        inspect(page, viewport, problems)
    assert problems == [], "\n".join(problems)
