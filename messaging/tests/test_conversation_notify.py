"""E-mails about threads left waiting (issue 19): once within an hour, only in business hours,
one e-mail per recipient listing their threads, to the assignee or else the admins."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core import mail

from contacts.tests.factories import mobile
from messaging.conversation_notify import conversations_notify
from messaging.inbound import inbound_receive
from messaging.models import Conversation
from messaging.tasks import notify_waiting_conversations
from messaging.tests.signing import OUR_NUMBER, sid

pytestmark = pytest.mark.django_db
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")


def sydney(hour: int, minute: int = 0, day: int = 25) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SYDNEY)


def text(tenant, account, *, at, phone="+61412000777"):
    params = {"MessageSid": sid(), "From": phone, "To": OUR_NUMBER, "Body": "Anyone there?"}
    return inbound_receive(tenant=tenant, params=params, account_id=account.id, at=at)


@pytest.fixture
def waiting(tenant, members, account, number):
    assert tenant.timezone == "Australia/Sydney"
    text(tenant, account, at=sydney(10))
    return Conversation.objects.get()


def test_an_unanswered_thread_is_told_once_within_an_hour(waiting, members, settings):
    settings.CONVERSATION_NOTIFY_AFTER_MINUTES = 30
    with time_machine.travel(sydney(10, 20), tick=False):
        notify_waiting_conversations()
    assert mail.outbox == []  # not waited long enough
    with time_machine.travel(sydney(10, 31), tick=False):
        notify_waiting_conversations()
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@acme.test", "owner@acme.test"]  # nobody has it
    assert "0412 000 777" in mail.outbox[0].body or "+61412000777" in mail.outbox[0].body
    with time_machine.travel(sydney(11, 15), tick=False):
        notify_waiting_conversations()
    assert len(mail.outbox) == 2  # at most once an hour
    with time_machine.travel(sydney(11, 32), tick=False):
        notify_waiting_conversations()
    assert len(mail.outbox) == 4  # still waiting an hour later: told again


def test_not_outside_business_hours(tenant, members, account, number):
    text(tenant, account, at=sydney(16, 50))
    with time_machine.travel(sydney(17, 30), tick=False):
        notify_waiting_conversations()
    with time_machine.travel(sydney(23, 0), tick=False):
        notify_waiting_conversations()
    assert mail.outbox == []
    with time_machine.travel(sydney(9, 5, day=26), tick=False):
        notify_waiting_conversations()
    assert len(mail.outbox) == 2  # next morning


def test_assignee_gets_one_email_listing_their_threads(tenant, members, account, number):
    text(tenant, account, at=sydney(10))
    text(tenant, account, at=sydney(10, 5), phone=mobile(778))
    Conversation.objects.update(assigned_to=members["staff"])
    assert conversations_notify(now=sydney(11)) == 2
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["staff@acme.test"]
    assert "+61412000777" in mail.outbox[0].body and "+61412000778" in mail.outbox[0].body


def test_an_answered_or_closed_thread_is_not_told(waiting, members):
    Conversation.objects.update(needs_reply=False, waiting_since=None)
    assert conversations_notify(now=sydney(11)) == 0 and mail.outbox == []
