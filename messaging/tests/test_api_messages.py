"""/api/v1/messages/ (issue 18): a business's messages with their status history, read-only, for
every key of the business and nobody else's; filters; no secret in the body; a list whose query
count does not grow with its rows or their reports."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, mobile
from messaging import events
from messaging.models import Message, MessageKind, MessageStatus
from messaging.tests.signing import TOKEN, sid, status_params
from tenants.testing import api_client, assert_api_hidden, assert_api_roles

pytestmark = pytest.mark.django_db

LIST = reverse("api:message-list")
EVERY_KEY = {"viewer", "staff", "admin"}


def detail(message) -> str:
    return reverse("api:message-detail", args=[message.pk])


def report(message, status: str, account, **extra) -> None:
    """A status callback as the webhook records it (signed by ``account``)."""
    events.status_callback_record(
        tenant_id=message.tenant_id, params=status_params(message, status, **extra), account_id=account.pk
    )


def another(message, **fields) -> Message:
    """A message like ``message`` (same tenant, sender and contact unless given)."""
    values = {
        "tenant": message.tenant,
        "contact": message.contact,
        "campaign": message.campaign,
        "sending_number": message.sending_number,
        "to_phone": message.to_phone,
        "from_sender": message.from_sender,
        "body": "Hi again",
        "status": MessageStatus.QUEUED,
        "provider_id": sid(),
        "handed_off_at": timezone.now(),
        **fields,
    }
    return Message.objects.create(**values)


def test_every_key_reads_messages_and_another_tenants_key_gets_404(message, api_keys, other_api_key):
    assert_api_roles(LIST, keys=api_keys, allowed=EVERY_KEY)
    assert_api_roles(detail(message), keys=api_keys, allowed=EVERY_KEY)
    assert_api_hidden(detail(message), key=other_api_key)
    assert api_client(other_api_key).get(LIST).json()["results"] == []


def test_messages_are_read_only(message, api_keys):
    client = api_client(api_keys["admin"])
    assert client.post(LIST, {"body": "x"}, format="json").status_code in (403, 405)
    assert client.patch(detail(message), {"body": "x"}, format="json").status_code in (403, 405)
    assert client.delete(detail(message)).status_code in (403, 405)
    message.refresh_from_db()
    assert message.body == "Hi" and Message.objects.count() == 1


def test_a_message_reads_with_its_status_history_and_no_secret(message, account, api_keys):
    report(message, "sent", account)
    report(message, "delivered", account, RawDlrDoneDate="2611250301")
    report(message, "sent", account, ErrorCode="")  # a replay: stored once, changes nothing
    response = api_client(api_keys["viewer"]).get(detail(message))
    assert response.status_code == 200
    data = response.json()
    assert (data["id"], data["status"], data["kind"], data["body"]) == (message.pk, "delivered", "campaign", "Hi")
    assert (data["campaign"], data["contact"], data["to_phone"]) == (
        message.campaign_id,
        message.contact_id,
        message.to_phone,
    )
    assert [(h["status"], h["provider_status"], h["error_code"]) for h in data["history"]] == [
        ("sent", "sent", ""),
        ("delivered", "delivered", ""),
    ]
    assert data["history"][1]["delivered_at"] == "2026-11-25T14:01:00+11:00"  # RawDlrDoneDate is UTC; shown in Sydney
    text = response.content.decode()
    for secret in (TOKEN, account.account_sid, "AccountSid", message.provider_id, "dedupe"):
        assert secret not in text


def test_an_error_report_is_in_the_history_with_its_code(message, account, api_keys):
    report(message, "undelivered", account, error_code="30005")
    data = api_client(api_keys["viewer"]).get(detail(message)).json()
    assert data["status"] == "undelivered" and data["error_code"] == "30005"
    assert [(h["status"], h["error_code"]) for h in data["history"]] == [("undelivered", "30005")]


def test_the_list_filters_by_campaign_contact_status_kind_and_since(tenant, message, api_keys, time_machine):
    Message.objects.filter(pk=message.pk).update(created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    time_machine.move_to(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=False)
    other_campaign = CampaignFactory(tenant=tenant)
    someone = ContactFactory(tenant=tenant, phone_e164=mobile(777))
    later = another(message, campaign=other_campaign, contact=someone, status=MessageStatus.DELIVERED)
    texted = another(
        message, campaign=None, kind=MessageKind.INBOUND, status=MessageStatus.RECEIVED, provider_id=sid("SMin")
    )
    client = api_client(api_keys["viewer"])

    def ids(query: str) -> list[int]:
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [texted.pk, later.pk, message.pk]
    assert ids(f"campaign={message.campaign_id}") == [message.pk]
    assert ids(f"contact={someone.pk}") == [later.pk]
    assert ids("status=delivered") == [later.pk] and ids("kind=inbound") == [texted.pk]
    assert ids("since=2026-11-25T14:00:00%2B11:00") == [texted.pk, later.pk]  # 03:00 UTC
    assert ids(f"campaign={message.campaign_id}&status=delivered") == []


def test_another_tenants_campaign_or_contact_filters_to_nothing(other_tenant, message, api_keys):
    theirs = CampaignFactory(tenant=other_tenant)
    assert api_client(api_keys["viewer"]).get(f"{LIST}?campaign={theirs.pk}").json()["results"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("campaign=abc", "campaign"),
        ("contact=-1", "contact"),
        ("status=lost", "status"),
        ("kind=email", "kind"),
        ("since=last+week", "since"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(api_keys, query, parameter):
    response = api_client(api_keys["viewer"]).get(f"{LIST}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and list(body["fields"]) == [parameter]


def test_the_list_and_its_histories_cost_a_fixed_number_of_queries(message, account, api_keys):
    client = api_client(api_keys["viewer"])
    report(message, "sent", account)
    client.get(LIST)  # the key's first use records it: not the list's cost
    with CaptureQueriesContext(connection) as one:
        client.get(LIST)
    for _ in range(4):
        extra = another(message)
        report(extra, "sent", account)
        report(extra, "delivered", account)
    with CaptureQueriesContext(connection) as five:
        rows = client.get(LIST).json()["results"]
    assert len(rows) == 5 and sum(len(row["history"]) for row in rows) == 9
    assert len(five) == len(one)
