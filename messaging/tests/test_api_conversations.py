"""The conversations API (issue 19): roles, another tenant's 404, the reply's shapes, refusals,
idempotency (two requests at once too) and the hand-off within the request."""

from __future__ import annotations

import datetime as dt
import threading
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import require_service
from contacts.tests.factories import ContactFactory, mobile
from messaging.backends import locmem
from messaging.models import Conversation, Message, MessageKind, MessageStatus, Price
from messaging.tests.test_conversations import CUSTOMER, sydney, text
from tenants.testing import api_client, assert_api_hidden, assert_api_roles

NOON = sydney(2026, 11, 25, 12, 0)
LIST = "/api/v1/conversations/"


def thread_url(phone: str = CUSTOMER) -> str:
    return f"{LIST}{quote(phone, safe='')}/"


def reply_url(phone: str = CUSTOMER) -> str:
    return thread_url(phone) + "messages/"


@pytest.fixture
def thread(tenant, account, number):
    Price.objects.create(tenant=tenant, country="AU", cents_per_segment=5, effective_from=dt.date(2020, 1, 1))
    ContactFactory(tenant=tenant, phone_e164=CUSTOMER, state="NSW", first_name="Kim", last_name="Lee")
    with time_machine.travel(NOON, tick=False):
        text(tenant, account, "Are you open on Boxing Day?", at=NOON)
    return Conversation.objects.get(tenant=tenant)


@pytest.fixture
def after_noon():
    with time_machine.travel(NOON + dt.timedelta(minutes=10), tick=True) as traveller:
        yield traveller


@pytest.mark.django_db
def test_viewers_read_and_staff_reply(thread, api_keys, after_noon):
    assert_api_roles(LIST, keys=api_keys, allowed=["viewer", "staff", "admin"])
    assert_api_roles(thread_url(), keys=api_keys, allowed=["viewer", "staff", "admin"])
    assert_api_roles(reply_url(), keys=api_keys, allowed=["staff", "admin"], method="post", data={"body": "Yes"})


@pytest.mark.django_db
def test_another_tenants_thread_is_a_404_that_does_not_reveal_it(thread, other_api_key, after_noon):
    for url in (thread_url(), thread_url("0412 000 777"), reply_url()):
        method, data = ("post", {"body": "Hi"}) if url.endswith("messages/") else ("get", None)
        assert_api_hidden(url, key=other_api_key, method=method, data=data)
    listed = api_client(other_api_key).get(LIST).json()
    assert listed["results"] == [] and CUSTOMER not in str(listed)
    assert not Message.objects.filter(kind=MessageKind.CONVERSATION).exists()


@pytest.mark.django_db(transaction=True)
def test_a_reply_is_201_and_handed_over_within_the_request(thread, api_keys, after_noon):
    response = api_client(api_keys["staff"]).post(reply_url("0412 000 777"), {"body": "Yes, 10 to 4!"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    message = Message.objects.get(pk=body["id"])
    assert body["status"] == message.status == MessageStatus.QUEUED  # eager: handed over already
    assert (message.to_phone, message.kind, message.body) == (CUSTOMER, MessageKind.CONVERSATION, "Yes, 10 to 4!")
    assert [sms.body for sms in locmem.outbox] == ["Yes, 10 to 4!"]


@pytest.mark.django_db
def test_a_reply_in_quiet_hours_is_202_scheduled(tenant, account, number, api_keys):
    Price.objects.create(tenant=tenant, country="AU", cents_per_segment=5, effective_from=dt.date(2020, 1, 1))
    ContactFactory(tenant=tenant, phone_e164=CUSTOMER, state="NSW")
    text(tenant, account, "Open tomorrow?", at=sydney(2026, 11, 25, 19, 0))
    with time_machine.travel(sydney(2026, 11, 25, 22, 0), tick=False):
        response = api_client(api_keys["staff"]).post(reply_url(), {"body": "From 9"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "scheduled"
    assert response.json()["scheduled_for"].startswith("2026-11-26T09:00:00")  # the business's zone


@pytest.mark.django_db
def test_a_refusal_is_the_error_body_naming_the_rule_and_sends_nothing(thread, tenant, api_keys, after_noon):
    client = api_client(api_keys["staff"])
    text(tenant, thread.tenant.provider_accounts.get(), "STOP", at=NOON + dt.timedelta(minutes=1))
    response = client.post(reply_url(), {"body": "Sorry to see you go"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "do_not_contact"
    assert "do-not-contact" in response.json()["message"]
    tenant.is_paused = True
    tenant.save(update_fields=["is_paused"])
    response = client.post(reply_url(), {"body": "Hello"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "paused")
    response = client.post(reply_url(), {}, format="json")
    assert (response.status_code, list(response.json()["fields"])) == (400, ["body"])
    assert not Message.objects.filter(kind=MessageKind.CONVERSATION).exists()
    assert locmem.outbox == []


@pytest.mark.django_db
def test_the_idempotency_key_replays_the_first_reply(thread, api_keys, after_noon):
    client = api_client(api_keys["staff"])
    first = client.post(reply_url(), {"body": "Yes"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post(reply_url(), {"body": "Yes"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = client.post(reply_url(), {"body": "No"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 422
    assert Message.objects.filter(kind=MessageKind.CONVERSATION).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_with_one_key_send_one_reply(thread, api_keys, after_noon):
    require_service("PostgreSQL", connection.vendor == "postgresql", "row-level waiting on the unique index")
    start = threading.Barrier(2)
    responses = []

    def post():
        start.wait()
        try:
            response = api_client(api_keys["staff"]).post(
                reply_url(), {"body": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="double-click"
            )
            responses.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for worker in threads:
        worker.start()
    for worker in threads:
        worker.join(timeout=30)
    assert len(responses) == 2 and responses[0] == responses[1]
    assert responses[0][0] == 201
    assert Message.objects.filter(kind=MessageKind.CONVERSATION).count() == 1
    assert [sms.body for sms in locmem.outbox] == ["Once"]


@pytest.mark.django_db
def test_the_list_filters_and_its_queries_do_not_grow_per_row(tenant, account, thread, api_keys):
    client = api_client(api_keys["viewer"])

    def listed(query=""):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(LIST + query)
        assert response.status_code == 200, response.json()
        return [row["phone_e164"] for row in response.json()["results"]], len(captured.captured_queries)

    listed()  # the first request also records the key's use
    phones, few = listed()
    assert phones == [CUSTOMER]
    for n in range(10):
        text(tenant, account, "Hi", at=NOON + dt.timedelta(minutes=n + 1), phone=mobile(300 + n))
    phones, many = listed()
    assert len(phones) == 11 and phones[0] == mobile(309)
    assert many == few
    assert listed("?q=Kim%20Lee")[0] == [CUSTOMER]
    assert listed("?q=0412000305")[0] == [mobile(305)]
    response = client.get(LIST + "?unread=maybe")
    assert response.status_code == 400 and "unread" in response.json()["fields"]


@pytest.mark.django_db
def test_the_thread_lists_every_message_both_ways_in_order(thread, api_keys, after_noon):
    api_client(api_keys["staff"]).post(reply_url(), {"body": "Yes!"}, format="json")
    body = api_client(api_keys["viewer"]).get(thread_url("+61 412 000 777")).json()
    assert body["conversation"]["name"] == "Kim Lee"
    assert [(m["direction"], m["body"]) for m in body["messages"]] == [
        ("in", "Are you open on Boxing Day?"),
        ("out", "Yes!"),
    ]
