"""What the dispatcher does when the world misbehaves: stalled workers, lost brokers, outages."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns import dispatch
from campaigns.models import JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from messaging.backends import locmem
from messaging.backends.base import get_backend
from messaging.models import Message, MessageStatus

pytestmark = pytest.mark.django_db


def test_a_worker_stalled_past_the_reconciler_never_hands_over_its_old_decision(tenant, clock, monkeypatch):
    """Worker A decides, then stalls; the reconciler requeues the job and worker B decides it
    again. A wakes up at its re-check: the job is sending again, but with B's message."""
    sending_setup(tenant)
    [contact] = sydney_contacts(tenant, 1)
    campaign = launched(tenant, contacts=[contact])
    backend = get_backend()
    real = dispatch.hand_off
    calls: list[dict] = []
    stale: list[int] = []

    def hand_off(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:  # worker A, stalled between deciding and handing over
            clock.shift(dt.timedelta(minutes=10))
            assert dispatch.reconcile_sending(backend=backend)["requeued"] == 1
            dispatch.process_batch(campaign_id=campaign.pk, backend=backend, batch_size=10)  # worker B
            return stale[0]
        if len(calls) == 2:  # worker B decided; before it hands over, A wakes up and re-checks
            stale.append(real(**calls[0]))
        return real(**kwargs)

    monkeypatch.setattr(dispatch, "hand_off", hand_off)
    dispatch.process_batch(campaign_id=campaign.pk, backend=backend, batch_size=10)
    assert stale == [0]  # A handed over nothing
    assert [sms.to for sms in locmem.outbox] == [contact.phone_e164]  # B's message, once
    job = SendJob.objects.get(campaign=campaign)
    assert job.status == JobStatus.SENT
    assert Message.objects.get(pk=job.message_id).status == MessageStatus.QUEUED
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.REJECTED).count() == 1  # A's, settled
