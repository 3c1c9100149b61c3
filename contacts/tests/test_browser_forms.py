"""Browser test: "Add contact" as Chromium fills it. A form with errors starts with a summary
that takes the focus and links to each field; consent is recorded with the kind and time chosen,
the time typed in the business's zone (an ISO datetime-local value).

Debian's headless Chromium through Playwright against pytest-django's live server (see
tenants/tests/test_browser_login.py); never run `playwright install`.
"""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from contacts.models import ConsentRecord, Contact
from smscrm.testing.browser import axe_violations, describe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, settings, user) -> None:
    client = Client()
    client.force_login(user)
    host = live_server.url.split("//", 1)[1].split(":")[0]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "domain": host, "path": "/"}]
    )  # fmt: skip


def focused(page) -> str:
    """What has the focus: "summary" for the error summary, else the focused element's id."""
    return page.evaluate(
        "document.activeElement.matches('[data-error-summary]') ? 'summary' : document.activeElement.id"
    )


def test_errors_are_summed_up_focused_and_linked_to_their_fields(page, live_server, settings, owner, tenant):
    sign_in(page, live_server, settings, owner)
    page.goto(live_server.url + "/contacts/new/")
    page.get_by_label("Phone").fill("12")
    page.get_by_label("Source").fill("counter sign-up")
    page.get_by_role("button", name="Save").click()

    summary = page.locator("[data-error-summary]")
    expect(summary).to_contain_text("Please fix 3 problems")
    # The deferred script may run a moment after the summary is shown: wait (bounded) for the focus.
    expect(summary).to_be_focused()
    assert focused(page) == "summary"
    assert describe_violations(axe_violations(page)) == ""
    summary.get_by_role("link", name="Kind of consent").click()
    expect(page.locator("#id_kind")).to_be_focused()

    page.get_by_label("Kind of consent").select_option("express")
    yesterday = timezone.localtime(timezone.now() - dt.timedelta(days=1), tenant.zone).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Obtained at").fill(yesterday)
    page.get_by_label("Phone").fill("0412 345 678")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("added.")).to_be_visible()
    contact = Contact.objects.get(tenant=tenant)
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.kind, record.source) == ("express", "counter sign-up")
    assert timezone.localtime(record.captured_at, tenant.zone).strftime("%Y-%m-%dT%H:%M") == yesterday
