"""Journey: add a sending number, keeping the form's own warmup date."""

import re
import zoneinfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.tests.factories import ProviderAccountFactory
from messaging.models import SendingNumber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_a_sending_number(journey, owner, tenant):
    account = ProviderAccountFactory(tenant=tenant)
    page = journey.page
    journey.sign_in(owner)
    journey.go("/campaigns/numbers/")
    expect(page.get_by_role("heading", level=1, name="Sending numbers")).to_be_visible()
    expect(page.locator("main")).to_contain_text("No sending numbers yet")

    form = page.locator("main form", has=page.get_by_label("Sender", exact=True))
    form.get_by_label("Provider account").select_option(label=str(account))
    form.get_by_label("Sender", exact=True).fill("0485 000 777")
    # Chromium shows the date input's value only when it is ISO (yyyy-mm-dd): it must start filled.
    today = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(tenant.timezone)).date()
    expect(form.get_by_label("Warmup started on")).to_have_value(today.isoformat())
    form.get_by_role("button", name="Add").click()

    journey.check()
    row = page.locator("main table tbody tr").filter(has_text=re.compile(r"0485 000 777|\+61 ?485 ?000 ?777"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(today.strftime("%-d %b %Y"))
    number = SendingNumber.objects.get(tenant=tenant)
    assert (number.sender, number.warmup_started_on) == ("+61485000777", today)
    journey.assert_clean()
