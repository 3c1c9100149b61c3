"""Consent evidence and prices as people read them: local time to the second, dollars."""

import datetime as dt
import html
import re

import pytest
import time_machine
from django.urls import reverse

from contacts.models import ConsentRecord
from messaging import inbound
from messaging.models import Price
from messaging.tests.signing import inbound_params
from tenants.testing import client_for

pytestmark = pytest.mark.django_db

# 14:00:00.123456 in Sydney (AEDT, UTC+11).
ARRIVED = dt.datetime(2026, 11, 25, 3, 0, 0, 123_456, tzinfo=dt.UTC)


def test_stop_evidence_gives_the_local_time_without_microseconds(tenant, number, contact, owner):
    with time_machine.travel(ARRIVED, tick=False):
        inbound.inbound_receive(tenant=tenant, params=inbound_params("STOP", phone=contact.phone_e164))
    record = ConsentRecord.objects.get(contact=contact, withdrawn=True)
    assert "received 25 Nov 2026 14:00:00 AEDT: “STOP”" in record.evidence
    assert not re.search(r"\d{4}-\d{2}-\d{2}T|\.123456|\+00:00", record.evidence)

    page = html.unescape(client_for(owner).get(reverse("contacts:detail", args=[contact.pk])).content.decode())
    assert "received 25 Nov 2026 14:00:00 AEDT" in page
    assert "2026-11-25T03:00:00.123456" not in page


def test_a_price_reads_in_dollars(tenant):
    price = Price.objects.create(tenant=tenant, country="AU", cents_per_segment=5, effective_from=dt.date(2026, 1, 1))
    assert str(price) == "$0.05 per segment to AU from 1 Jan 2026"
