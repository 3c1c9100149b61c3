"""The admin's date fields, as a browser shows and submits them: a sending number's change form
saved unchanged keeps its warmup day (the admin writes dates into text inputs, with a calendar)."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from campaigns.tests.factories import SendingNumberFactory
from messaging.models import SendingNumber
from smscrm.testing.htmlforms import browser_submission
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def test_a_sending_number_saved_unchanged_in_the_admin_keeps_its_warmup_day(staff_owner, tenant):
    number = SendingNumberFactory(tenant=tenant, warmup_started_on=dt.date(2026, 12, 5))
    client = client_for(staff_owner)
    url = reverse("admin:messaging_sendingnumber_change", args=[number.pk])
    page = client.get(url).content.decode()
    date_input = re.search(r'<input[^>]*name="warmup_started_on"[^>]*>', page)[0]
    assert 'type="text"' in date_input  # never a date input: those accept ISO values only

    data = browser_submission(page, field="warmup_started_on") | {"_save": "Save"}
    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert SendingNumber.objects.get(pk=number.pk).warmup_started_on == dt.date(2026, 12, 5)
