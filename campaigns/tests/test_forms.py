"""The campaigns pages' forms as a browser fills and submits them."""

import datetime as dt
import re

import time_machine
from django.urls import reverse

from campaigns.tests.factories import ProviderAccountFactory
from messaging.models import SendingNumber
from smscrm.testing.htmlforms import browser_submission
from tenants.testing import client_for


@time_machine.travel(dt.datetime(2026, 12, 5, 5, 48, tzinfo=dt.UTC), tick=False)
def test_sending_number_form_can_be_saved_as_the_browser_fills_it(tenant, owner):
    """The warmup date is written as ISO (the only form a date input keeps), in the tenant's day."""
    account = ProviderAccountFactory(tenant=tenant)
    client = client_for(owner)
    page = client.get(reverse("campaigns:numbers")).content.decode()
    # 05:48 UTC is 16:48 in Sydney (daylight time): the business's 5 December.
    assert re.search(r'<input type="date" name="warmup_started_on" value="2026-12-05"', page)

    data = browser_submission(page, field="warmup_started_on") | {"account": account.pk, "sender": "0400 000 078"}
    response = client.post(reverse("campaigns:numbers"), data)

    assert response.status_code == 302, response.content.decode()
    number = SendingNumber.objects.get(tenant=tenant)
    assert number.warmup_started_on == dt.date(2026, 12, 5)
