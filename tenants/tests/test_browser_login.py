"""Browser test: an owner signs in with the e-mailed magic link, then pauses and resumes sending.

Drives Debian's headless Chromium (/usr/bin/chromium) through Playwright's sync API against
pytest-django's live server; never run `playwright install`. Skipped (failed on CI, through
``require_service``) when Chromium is not installed. A screenshot of the paused dashboard is
saved to var/screenshots/dashboard-paused.png for a human to look at.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

SCREENSHOT = Path(django_settings.BASE_DIR) / "var" / "screenshots" / "dashboard-paused.png"
TIMEOUT_MS = 5_000

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)  # committed rows, so the live server thread sees them
def test_owner_signs_in_by_magic_link_then_pauses_and_resumes(page, live_server, settings, mailoutbox, owner, tenant):
    settings.PUBLIC_BASE_URL = live_server.url  # the e-mailed link points at the live server

    # 1. Ask for a link.
    page.goto(live_server.url + "/login/")
    page.get_by_label("Work e-mail").fill(owner.email)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible(timeout=TIMEOUT_MS)

    # 2. Open the e-mailed link: GET only shows a button; Continue spends it.
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [owner.email]
    link = re.search(r"https?://\S+", mailoutbox[0].body).group(0)
    assert link.startswith(live_server.url + "/login/auth/?sesame=")
    page.goto(link)
    expect(page.get_by_role("heading", name=f"Sign in as {owner.email}")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Continue").click()

    # 3. The dashboard of the owner's tenant, live.
    expect(page.get_by_role("heading", level=1, name=tenant.name)).to_be_visible(timeout=TIMEOUT_MS)
    state = page.locator("#sending-state")
    expect(state).to_have_text("Live", timeout=TIMEOUT_MS)

    # 4. Pause, with confirmation.
    page.get_by_role("link", name="Pause all sending").click()
    expect(page.get_by_role("heading", name=f"Pause all sending for {tenant.name}?")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Yes, pause sending").click()
    expect(state).to_have_text("Paused", timeout=TIMEOUT_MS)
    banner = page.locator(".banner.paused")
    expect(banner).to_contain_text("Sending is paused", timeout=TIMEOUT_MS)
    expect(banner).to_have_css("background-color", "rgb(180, 35, 24)", timeout=TIMEOUT_MS)  # --danger: app.css loaded
    tenant.refresh_from_db()
    assert tenant.is_paused is True
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # 5. Resume, with confirmation.
    page.get_by_role("link", name="Resume sending").click()
    page.get_by_role("button", name="Yes, resume sending").click()
    expect(state).to_have_text("Live", timeout=TIMEOUT_MS)
    expect(banner).to_have_count(0, timeout=TIMEOUT_MS)
    tenant.refresh_from_db()
    assert tenant.is_paused is False
