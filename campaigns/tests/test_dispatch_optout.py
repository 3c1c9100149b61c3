"""A STOP that commits while a campaign is mid-flight: nothing more reaches that number."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections
from django.urls import reverse
from twilio.request_validator import RequestValidator

from campaigns import dispatch
from campaigns.dispatch import batch
from campaigns.models import Gate, JobStatus
from campaigns.tests.test_dispatch import job_of, launched, sending_setup, sydney_contacts
from conftest import require_service
from contacts import guard
from contacts import services as contact_services
from contacts.models import DncReason, DoNotContact
from messaging.backends import locmem
from messaging.backends.base import get_backend
from messaging.models import Message, MessageStatus, ProviderAccount
from smscrm.testing.locks import backend_pid, blocked_on_a_lock


def texted_stop(client, *, account: ProviderAccount, phone: str, to: str):
    path = reverse("messaging:inbound_webhook")
    params = {
        "MessageSid": "SM" + "c" * 32,
        "AccountSid": account.account_sid,
        "From": phone,
        "To": to,
        "Body": "STOP",
    }
    signature = RequestValidator(account.token).compute_signature("http://127.0.0.1:8000" + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.mark.django_db
def test_a_stop_between_decision_and_hand_off_stops_that_message(client, tenant, clock, monkeypatch):
    numbers = sending_setup(tenant)
    contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts)
    quitter = contacts[1]
    real_hand_off = batch.hand_off

    def stop_arrives_first(**kwargs):
        # The batch is decided (all three passed the DNC gate); the STOP webhook lands now.
        assert (
            texted_stop(client, account=numbers[0].account, phone=quitter.phone_e164, to=numbers[0].sender).status_code
            == 200
        )
        return real_hand_off(**kwargs)

    monkeypatch.setattr(batch, "hand_off", stop_arrives_first)
    stats = dispatch.process_batch(campaign_id=campaign.pk, backend=get_backend(), batch_size=500)
    assert stats.sent == 2
    assert quitter.phone_e164 not in {sms.to for sms in locmem.outbox}
    job = job_of(campaign, quitter)
    assert (job.status, job.gate) == (JobStatus.SKIPPED, Gate.DNC)
    assert job.message.status == MessageStatus.REJECTED  # its reserved cost is released
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count() == 2


@pytest.mark.django_db
def test_pending_jobs_of_an_opted_out_number_are_skipped_at_their_next_gate_check(client, tenant, clock):
    numbers = sending_setup(tenant)
    contacts = sydney_contacts(tenant, 2)
    campaign = launched(tenant, contacts=contacts)
    texted_stop(client, account=numbers[0].account, phone=contacts[0].phone_e164, to=numbers[0].sender)
    dispatch.dispatch()
    assert [sms.to for sms in locmem.outbox] == [contacts[1].phone_e164]
    assert job_of(campaign, contacts[0]).gate == Gate.DNC


@pytest.mark.django_db(transaction=True)
def test_an_opt_out_waits_for_a_hand_off_in_flight_and_later_ones_see_it(tenant):
    """PostgreSQL: dnc_add commits only after a hand-off holding the number has finished."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "advisory locks are PostgreSQL's")
    phone = "+61412000777"
    holding, release = threading.Event(), threading.Event()
    times = {}

    def hand_off():
        try:
            with guard.numbers_held(tenant.id, [phone]) as blocked:
                times["blocked_at_start"] = set(blocked)
                holding.set()
                release.wait(5)
                times["hand_off_done"] = time.monotonic()
        finally:
            connections.close_all()

    def opt_out():
        try:
            times["opt_out_pid"] = backend_pid()
            connected.set()
            contact_services.dnc_add(tenant=tenant, phone=phone, reason=DncReason.STOP_KEYWORD, source="test")
            times["dnc_committed"] = time.monotonic()
        finally:
            connections.close_all()

    sender = threading.Thread(target=hand_off)
    sender.start()
    assert holding.wait(5)
    connected = threading.Event()
    stopper = threading.Thread(target=opt_out)
    stopper.start()
    assert connected.wait(5)
    # The opt-out's connection waits on the hand-off's lock (polled, with a deadline).
    assert blocked_on_a_lock(times["opt_out_pid"])
    assert "dnc_committed" not in times
    release.set()
    sender.join(5)
    stopper.join(5)
    assert times["blocked_at_start"] == set()
    assert times["dnc_committed"] >= times["hand_off_done"]
    # A hand-off that starts now sees the number on the list.
    with guard.numbers_held(tenant.id, [phone, "+61412000778"]) as blocked:
        assert blocked == {phone}
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=phone).exists()
