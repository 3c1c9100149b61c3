"""Browser test: a sending number is added as Chromium fills the form. The warmup day's date
input keeps its value only when it is ISO (05/12/2026 was dropped, and saving said "This field is
required."). Debian's headless Chromium through Playwright against the live server.
"""

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.tests.factories import ProviderAccountFactory
from messaging.models import SendingNumber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, settings, user) -> None:
    client = Client()
    client.force_login(user)
    host = live_server.url.split("//", 1)[1].split(":")[0]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "domain": host, "path": "/"}]
    )  # fmt: skip


def test_a_sending_number_is_added_with_the_warmup_day_as_shown(page, live_server, settings, owner, tenant):
    account = ProviderAccountFactory(tenant=tenant, label="Main account")
    sign_in(page, live_server, settings, owner)
    page.goto(live_server.url + "/campaigns/numbers/")
    today = timezone.localdate(timezone=tenant.zone)
    expect(page.get_by_label("Warmup started on")).to_have_value(today.isoformat())

    page.get_by_label("Provider account").select_option(str(account.pk))
    page.get_by_label("Sender", exact=True).fill("0400 000 078")
    page.get_by_role("button", name="Add").click()

    expect(page.get_by_text("+61400000078 added.")).to_be_visible()
    assert SendingNumber.objects.get(tenant=tenant).warmup_started_on == today
