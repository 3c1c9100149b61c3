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
    problems = watch(page)
    for url in pages:
        visit(page, live_server.url + url, problems)
    # Forms shown again with their errors (the settings page, a contact with a bad number).
    for url, field, value in (("/settings/", "#id_opt_out_line", "Thanks!"), ("/contacts/new/", "#id_phone", "12")):
        visit(page, live_server.url + url, problems)
        page.fill(field, value)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state("load")
        assert posted.value.status == 400 and page.locator(".has-error").count() > 0, f"{url}: no error shown"
        forget_own_status(problems, live_server.url + url, 400)
    assert problems == [], "\n".join(problems)


def test_the_pages_people_see_before_signing_in_render_under_the_policy(live_server, browser_context, owner, tenant):
    from tenants import memberships, services

    link = services.login_link_build(user=owner).split("8000", 1)[1]
    _, token = memberships.invitation_create(tenant=tenant, actor=owner, email="new@x.test", role="staff")
    page = browser_context.new_page()
    problems = watch(page)
    for url, status in (
        ("/login/", 200),
        (link, 200),  # the magic link's "Continue" page
        (f"/invitations/{token}/", 200),
        ("/s/NoSuchTok1", 404),  # a short link that does not exist: its own, stricter policy
    ):
        visit(page, live_server.url + url, problems, status=status)
    assert problems == [], "\n".join(problems)


def watch(page) -> list[str]:
    """Collects the page's console errors and script errors, named by the URL shown."""
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: script error: {e}"))
    return problems


def visit(page, url: str, problems: list[str], *, status: int = 200) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == status, f"{url}: {response and response.status}"
    if status != 200:
        forget_own_status(problems, url, status)
    policy = response.headers.get("content-security-policy", "")
    assert "unsafe-inline" not in policy and "'unsafe-eval'" not in policy, url
    if status == 200:
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, f"{url}: policy {policy!r}"
    else:
        assert policy.startswith("default-src 'none'"), f"{url}: policy {policy!r}"


def forget_own_status(problems: list[str], url: str, status: int) -> None:
    """Chromium reports a page's own 4xx status as a console error: expected where we asked for it."""
    own = f"{url}: console: Failed to load resource: the server responded with a status of {status}"
    problems[:] = [problem for problem in problems if not problem.startswith(own)]
