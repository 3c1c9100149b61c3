"""Every page renders under the strict Content-Security-Policy without a console error.

The owner of a tenant that has a row of every model (``crawl_data.populate``) opens, in headless
Chromium, every page of every URL pattern that answers them 200 with HTML (the admin's included);
the crawl's URL enumeration finds new pages without anyone touching this file. Each page must
carry the policy, and the browser must report no error: a blocked inline script or style, a
refused resource, or a script failing would each show here.
"""

from __future__ import annotations

import pytest
from django.test import Client

from smscrm.tests.crawl import routes
from smscrm.tests.crawl_data import (
    PlainTexts,
    Unfillable,
    global_admin_objects,
    populate,
    record_heartbeats,
    targets_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Pages that do not render for a signed-in owner by design (the admin's login refuses them).
NOT_PAGES = {"admin:login"}


def html_pages(owner, data) -> list[str]:
    """The GET URLs that answer the owner 200 with an HTML page."""
    client = Client()
    client.force_login(owner)
    global_objects = global_admin_objects()
    found = []
    for route in routes():
        if route.key in NOT_PAGES:
            continue
        try:
            targets = targets_for(route, data, global_objects, id_queries=False)
        except Unfillable:  # the crawl test itself fails for these, saying what to add
            continue
        for target in targets:
            response = client.get(target.url)
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                found.append(target.url)
    return found


def test_every_page_renders_under_the_policy_without_console_errors(
    live_server, browser_context, settings, tmp_path, clock, tenant, owner
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    record_heartbeats()
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    data = populate(tenant, owner=owner, texts=PlainTexts(), slot=1, workdir=tmp_path)
    pages = html_pages(owner, data)
    assert len(pages) >= 40, f"only {len(pages)} pages found: the crawl lost its way"

    # The owner's session, in the browser.
    client = Client()
    client.force_login(owner)
    host = live_server.url.split("//", 1)[1].split(":")[0]
    browser_context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "domain": host, "path": "/"}]
    )  # fmt: skip
    page = browser_context.new_page()
    problems: list[str] = []
    current = {"url": ""}
    page.on("console", lambda m: m.type == "error" and problems.append(f"{current['url']}: console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{current['url']}: script error: {e}"))
    for url in pages:
        current["url"] = url
        response = page.goto(live_server.url + url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, f"{url}: policy {policy!r}"
        assert "unsafe-inline" not in policy, url
    assert problems == [], "\n".join(problems)
