"""Final statuses the provider never reported are asked for (messaging.statuses)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import dispatch
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from messaging import statuses
from messaging.backends import locmem
from messaging.backends.base import StatusAnswer, get_backend
from messaging.models import Message, MessageStatus, ProviderEvent, StatusSweep
from messaging.tests.signing import signed, status_params

pytestmark = pytest.mark.django_db


def sent_and_silent(tenant, n=3):
    """A campaign handed over whose status callbacks were all lost."""
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, n)
    campaign = launched(tenant, contacts=contacts)
    assert dispatch.dispatch().sent == n
    return list(Message.objects.filter(campaign=campaign).order_by("id"))


def test_a_lost_final_status_is_asked_for_after_two_hours(tenant, clock, client):
    delivered, failed, silent = sent_and_silent(tenant)
    locmem.final_statuses[delivered.provider_id] = StatusAnswer("delivered")
    locmem.final_statuses[failed.provider_id] = StatusAnswer("undelivered", "30003")
    backend = get_backend()
    clock.shift(dt.timedelta(hours=1))
    assert statuses.statuses_look_up(backend=backend)["asked"] == 0  # not yet: callbacks may still come
    clock.shift(dt.timedelta(hours=1, minutes=1))
    counts = statuses.statuses_look_up(backend=backend)
    assert counts == {"read": 3, "asked": 3, "answered": 2, "advanced": 2}
    statuses_now = dict(Message.objects.values_list("id", "status"))
    assert statuses_now == {
        delivered.id: MessageStatus.DELIVERED,
        failed.id: MessageStatus.UNDELIVERED,
        silent.id: MessageStatus.QUEUED,  # the provider had nothing final to say yet
    }
    assert Message.objects.get(pk=failed.pk).error_code == "30003"
    event = ProviderEvent.objects.get(message=delivered)
    assert event.params["_source"] == "lookup" and event.status == "delivered"
    # The lost callback arrives after all: a replay, counted once.
    delivered.refresh_from_db()
    account = delivered.sending_number.account
    params = status_params(delivered, "delivered", account_sid=account.account_sid)
    assert signed(client, "messaging:status_callback", params, token=account.token).status_code == 200
    assert ProviderEvent.objects.filter(message=delivered, status="delivered").count() == 1
    # Nothing is read twice by the same pass; the day-later pass asks the silent one again.
    assert statuses.statuses_look_up(backend=backend)["read"] == 0
    locmem.final_statuses[silent.provider_id] = StatusAnswer("delivered")
    clock.shift(dt.timedelta(days=1))
    assert statuses.statuses_look_up(backend=backend)["advanced"] == 1
    assert Message.objects.get(pk=silent.pk).status == MessageStatus.DELIVERED


def test_each_run_reads_a_bounded_slice_and_goes_on_from_there(tenant, clock, monkeypatch):
    messages = sent_and_silent(tenant, n=5)
    for message in messages:
        locmem.final_statuses[message.provider_id] = StatusAnswer("delivered")
    monkeypatch.setattr(statuses, "SCAN", 2)
    clock.shift(dt.timedelta(hours=3))
    reads = [statuses.statuses_look_up(backend=get_backend())["read"] for _ in range(4)]
    assert reads == [2, 2, 1, 0]
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.DELIVERED}
    assert StatusSweep.objects.get(name="first").message_id == messages[-1].id


def test_the_simulator_answers_from_its_log(tenant, clock, settings, tmp_path):
    settings.SMS_SIMULATOR_LOG = tmp_path / "accepted.log"
    settings.SMS_SIMULATOR_CALLBACKS = "off"  # every report lost
    settings.SMS_SIMULATOR_MIX = "delivered=100"
    sending_setup(tenant)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 2))
    assert dispatch.dispatch(backend=get_backend("simulator")).sent == 2
    clock.shift(dt.timedelta(hours=3))
    assert statuses.statuses_look_up(backend=get_backend("simulator"))["advanced"] == 2
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {MessageStatus.DELIVERED}


def test_twilio_is_asked_through_its_messages_api(tenant, fake_twilio, settings):
    from messaging.backends.base import ProviderCredentials, StatusLookup

    fake_twilio.add_account("AC" + "5" * 32, "tok")
    created = fake_twilio.create("AC" + "5" * 32, {"To": "+61412000001", "From": "+61485000001", "Body": "Hi"})
    fake_twilio.messages[created["sid"]].update(status="undelivered", error_code=30003)
    answers = get_backend("twilio").statuses(
        [
            StatusLookup(created["sid"], ProviderCredentials("AC" + "5" * 32, "tok")),
            StatusLookup("SM" + "0" * 32, ProviderCredentials("AC" + "5" * 32, "tok")),  # 404: skipped
        ]
    )
    assert answers == {created["sid"]: StatusAnswer("undelivered", "30003")}


def test_the_beat_task_runs_the_look_up(tenant, clock):
    from messaging.tasks import look_up_statuses

    [message] = sent_and_silent(tenant, n=1)
    locmem.final_statuses[message.provider_id] = StatusAnswer("delivered")
    clock.shift(dt.timedelta(hours=3))
    look_up_statuses()
    assert Message.objects.get(pk=message.pk).status == MessageStatus.DELIVERED
    assert timezone.now() > Message.objects.get(pk=message.pk).handed_off_at
