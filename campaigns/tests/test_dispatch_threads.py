"""Campaign messages join the conversations of numbers that have one, set-wise (issue 19)."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import dispatch
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from messaging.backends.base import get_backend
from messaging.models import Conversation, Message, MessageKind
from messaging.threads import thread_open


def batch_queries(tenant, *, contacts: int, threads: int, tag: str) -> tuple[int, object, list]:
    people = sydney_contacts(tenant, contacts, tags=[tag])
    for contact in people[:threads]:
        thread_open(tenant_id=tenant.id, phone=contact.phone_e164, contact=contact, at=timezone.now())
    campaign = launched(tenant, contacts=people, tags=[tag])
    # The hand-off goes in groups of the messages whose rate-limit slot (0.5 ms apart) has come, each
    # group with its own opt-out hold: on a running clock how many groups depends on the machine's
    # speed (CI once counted 46 and 51 statements for the same batch). On a stopped clock it is one
    # group per message, every time, so only what threads change can change the count.
    with time_machine.travel(timezone.now(), tick=False), CaptureQueriesContext(connection) as captured:
        assert dispatch.process_batch(campaign_id=campaign.pk, backend=get_backend(), batch_size=500).sent == contacts
    return len(captured.captured_queries), campaign, people


@pytest.mark.django_db
def test_campaign_messages_join_existing_threads_in_a_fixed_number_of_statements(tenant, clock, monkeypatch):
    from campaigns.dispatch import chunks

    monkeypatch.setattr(chunks, "HANDOFF_CHUNK", 1000)
    sending_setup(tenant)
    tenant.suppression_days = 0
    tenant.save(update_fields=["suppression_days"])
    few, _, _ = batch_queries(tenant, contacts=6, threads=1, tag="a")
    many, campaign, people = batch_queries(tenant, contacts=6, threads=6, tag="b")
    assert many == few  # one thread or six: the same statements
    joined = Message.objects.filter(campaign=campaign, kind=MessageKind.CAMPAIGN, conversation__isnull=False)
    assert joined.count() == 6
    thread = Conversation.objects.get(contact=people[0])
    assert (thread.campaign_id, thread.last_direction, thread.unread_count) == (campaign.pk, "out", 0)
    # Numbers without a thread get none: a campaign does not fill the inbox.
    assert Conversation.objects.count() == 7
