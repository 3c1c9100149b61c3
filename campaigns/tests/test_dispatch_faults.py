"""What the dispatcher does when the world misbehaves: stalled workers, lost brokers, outages."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns import dispatch, gates
from campaigns.dispatch import batch
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
    real = batch.hand_off
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

    monkeypatch.setattr(batch, "hand_off", hand_off)
    dispatch.process_batch(campaign_id=campaign.pk, backend=backend, batch_size=10)
    assert stale == [0]  # A handed over nothing
    assert [sms.to for sms in locmem.outbox] == [contact.phone_e164]  # B's message, once
    job = SendJob.objects.get(campaign=campaign)
    assert job.status == JobStatus.SENT
    assert Message.objects.get(pk=job.message_id).status == MessageStatus.QUEUED
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.REJECTED).count() == 1  # A's, settled


def decided_and_dead(tenant, n=2):
    """A campaign whose first batch was decided by a worker that then died before hand-off."""
    from django.db import transaction
    from django.utils import timezone

    from campaigns.models import Campaign
    from contacts.models import Contact

    sending_setup(tenant)
    contacts = sydney_contacts(tenant, n)
    campaign = launched(tenant, contacts=contacts)
    stats = dispatch.DispatchStats()
    with transaction.atomic():
        campaign = Campaign.objects.select_related("tenant", "template").get(pk=campaign.pk)
        jobs = list(SendJob.objects.filter(campaign=campaign).order_by("id"))
        by_id = {c.id: c for c in Contact.objects.filter(id__in=[j.contact_id for j in jobs])}
        decision = gates.evaluate(campaign=campaign, jobs=jobs, contacts=by_id, now=timezone.now())
        going = batch._record_decisions(campaign=campaign, decision=decision, now=timezone.now(), stats=stats)
    return campaign, going


@pytest.mark.parametrize("evidence", ["missing", "unreadable", "older than the decision"])
def test_a_simulator_log_that_cannot_prove_absence_leaves_the_job_unknown(tenant, clock, settings, tmp_path, evidence):
    """A reconciler reading another log than the senders' requeued messages the provider had: duplicates."""
    import os

    log = tmp_path / "accepted.log"
    settings.SMS_SIMULATOR_LOG = log
    if evidence == "unreadable":
        log.mkdir()  # a path that cannot be read as the log
    elif evidence == "older than the decision":
        log.write_text("0000 SMold\n")
        os.utime(log, (0, 0))
    campaign, going = decided_and_dead(tenant)
    clock.shift(dt.timedelta(minutes=10))
    counts = dispatch.reconcile_sending(backend=get_backend("simulator"))
    assert counts == {"found": 0, "requeued": 0, "unknown": 2}
    assert set(SendJob.objects.filter(campaign=campaign).values_list("status", flat=True)) == {JobStatus.UNKNOWN}


def test_a_simulator_log_written_since_proves_absence_and_presence(tenant, clock, settings, tmp_path):
    settings.SMS_SIMULATOR_LOG = tmp_path / "accepted.log"
    settings.SMS_SIMULATOR_CALLBACKS = "off"
    campaign, going = decided_and_dead(tenant)
    get_backend("simulator").send([going[0].outbound])  # the provider got the first before the crash
    clock.shift(dt.timedelta(minutes=10))
    counts = dispatch.reconcile_sending(backend=get_backend("simulator"))
    assert counts == {"found": 1, "requeued": 1, "unknown": 0}


# --- the broker down at launch --------------------------------------------------------------------


def test_a_campaign_launched_while_the_broker_is_down_is_prepared_by_the_sweep(
    tenant, members, clock, dead_broker, django_capture_on_commit_callbacks, caplog
):
    from django.urls import reverse

    from campaigns import tasks
    from campaigns.models import Campaign, CampaignStatus
    from campaigns.tests.factories import CampaignFactory, TemplateFactory
    from tenants.testing import client_for

    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 3)
    campaign = CampaignFactory(tenant=tenant, template=TemplateFactory(tenant=tenant), name="Boxing Day")
    client = client_for(members["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:launch", args=[campaign.pk]))
    assert response.status_code == 302  # the launch stands: the broker's outage is not the person's problem
    assert "broker unavailable: campaigns.create_jobs not queued" in caplog.text
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING and campaign.jobs_created_at is None
    assert not SendJob.objects.filter(campaign=campaign).exists()
    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "Queued: a worker is preparing the audience." in page
    clock.shift(dt.timedelta(minutes=2))
    page = client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "no worker has prepared the audience yet" in page and "nothing needs doing" in page

    # The broker is back; beat's sweep finds the recorded launch and does the work.
    tasks.prepare_pending()
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.jobs_total == 3 and campaign.jobs_created_at is not None
    assert dispatch.dispatch().sent == 3
    assert sorted(sms.to for sms in locmem.outbox) == sorted(c.phone_e164 for c in contacts)


def test_the_sweep_leaves_a_fresh_launch_to_its_own_task(tenant, clock):
    from campaigns import services
    from campaigns.models import Campaign
    from campaigns.tests.factories import CampaignFactory, TemplateFactory

    sending_setup(tenant)
    sydney_contacts(tenant, 2)
    campaign = CampaignFactory(tenant=tenant, template=TemplateFactory(tenant=tenant))
    services.campaign_launch(campaign=campaign, actor=None)  # its task runs at commit, never in this test
    assert services.campaigns_prepare_pending() == []  # within the grace period: not the sweep's yet
    clock.shift(dt.timedelta(seconds=services.PREPARE_GRACE_SECONDS + 1))
    assert services.campaigns_prepare_pending() == [campaign.pk]
    assert Campaign.objects.get(pk=campaign.pk).jobs_total == 2
    assert services.campaigns_prepare_pending() == []  # done: nothing twice
