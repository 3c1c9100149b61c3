"""Where each event is emitted: STOP, START and replies, status callbacks, people's clicks,
completed campaigns and imports. Each costs one query when nobody subscribes."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks import Webhook

from campaigns.dispatch import campaigns_advance
from campaigns.models import CampaignStatus, JobStatus, SendJob
from campaigns.tests.factories import CampaignFactory
from contacts.models import DoNotContact
from contacts.tests.factories import ContactFactory, mobile
from contacts.tests.test_imports import run_import, write_csv
from links import clicks
from links.models import ShortLink
from messaging import events
from messaging.models import Message, MessageStatus, ProviderAccount, SendingNumber
from messaging.tests.signing import OUR_NUMBER, TOKEN, post_inbound, post_status, sid
from webhooks.models import EventType, WebhookDelivery
from webhooks.tests.factories import SubscriptionFactory

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
CRAWLER = "python-requests/2.31.0"


@pytest.fixture
def number(tenant):
    account = ProviderAccount.objects.create(tenant=tenant, account_sid="AC" + "1" * 32, auth_token=TOKEN)
    return SendingNumber.objects.create(tenant=tenant, account=account, sender=OUR_NUMBER)


@pytest.fixture
def contact(tenant):
    return ContactFactory(tenant=tenant, consent="express", phone_e164=mobile(501))


@pytest.fixture
def message(tenant, number, contact):
    return Message.objects.create(
        tenant=tenant, contact=contact, campaign=CampaignFactory(tenant=tenant), sending_number=number,
        to_phone=contact.phone_e164, from_sender=number.sender, body="Hi", status=MessageStatus.QUEUED,
        provider_id=sid(), handed_off_at=timezone.now(),
    )  # fmt: skip


def bodies(receiver) -> list[dict]:
    return [json.loads(request.body) for request in receiver.requests]


def webhook_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "webhooks_" in q["sql"]]


# --- texts -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_stop_is_posted_to_the_receiver_within_the_request_that_brought_it(client, tenant, number, contact, receiver):
    """CELERY_TASK_ALWAYS_EAGER: the delivery task runs at the commit, inside the webhook's request."""
    subscription = SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.CONTACT_OPTED_OUT])
    response = post_inbound(client, "STOP", phone=contact.phone_e164)
    assert response.status_code == 200
    (request,) = receiver.requests  # already there when the provider got its answer
    body = Webhook(subscription.secret).verify(request.body, request.headers)
    assert body["type"] == "contact.opted_out"
    message = Message.objects.get(provider_id__startswith="SM", kind="inbound")
    assert body["data"] == {
        "phone_e164": contact.phone_e164, "contact_id": contact.pk, "message_id": message.pk,
        "campaign_id": None, "keyword": "STOP",
    }  # fmt: skip
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()


@pytest.mark.django_db
def test_start_and_a_reply_are_events_and_help_is_none(
    client, tenant, number, contact, receiver, django_capture_on_commit_callbacks
):
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        post_inbound(client, "STOP", phone=contact.phone_e164)
        post_inbound(client, "start", phone=contact.phone_e164)
        post_inbound(client, "HELP", phone=contact.phone_e164)
        post_inbound(client, "What time do you open?", phone=contact.phone_e164)
        post_inbound(client, "stop", phone="TXTLOCAL")  # not a number: nothing to put on the list
    kinds = [(b["type"], b["data"].get("outcome") or b["data"].get("body")) for b in bodies(receiver)]
    assert kinds == [
        ("contact.opted_out", None),
        ("contact.opted_in", "lifted"),
        ("message.replied", "What time do you open?"),
    ]
    replied = bodies(receiver)[-1]["data"]
    assert replied["phone_e164"] == contact.phone_e164 and replied["received_at"].endswith("Z")


@pytest.mark.django_db
def test_a_stop_costs_one_query_for_a_business_without_subscribers(client, tenant, number, contact):
    with CaptureQueriesContext(connection) as captured:
        post_inbound(client, "STOP", phone=contact.phone_e164)
    assert len(webhook_queries(captured)) == 1 and "INSERT" not in webhook_queries(captured)[0]


# --- status callbacks -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_message_settling_is_delivered_or_failed_once(
    client, tenant, message, receiver, django_capture_on_commit_callbacks
):
    SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.MESSAGE_DELIVERED, "message.failed"])
    with django_capture_on_commit_callbacks(execute=True):
        post_status(client, message, "sent")
        post_status(client, message, "undelivered", error_code="30003")
        post_status(client, message, "undelivered", error_code="30003")  # a replay
        post_status(client, message, "delivered", RawDlrDoneDate="2611250310")
    assert [(b["type"], b["data"]["status"]) for b in bodies(receiver)] == [
        ("message.failed", "undelivered"),
        ("message.delivered", "delivered"),
    ]
    delivered = bodies(receiver)[1]["data"]
    assert delivered == {
        "message_id": message.pk, "provider_id": message.provider_id, "campaign_id": message.campaign_id,
        "contact_id": message.contact_id, "phone_e164": message.to_phone, "status": "delivered",
        "error_code": "30003", "delivered_at": "2026-11-25T03:10:00.000Z",
    }  # fmt: skip


@pytest.mark.django_db
def test_a_callback_applied_later_by_the_sweep_is_an_event_too(
    tenant, message, receiver, django_capture_on_commit_callbacks
):
    SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.MESSAGE_DELIVERED])
    early = sid()
    events.status_callback_record(tenant_id=tenant.pk, params={"MessageSid": early, "MessageStatus": "delivered"})
    Message.objects.filter(pk=message.pk).update(provider_id=early)
    with django_capture_on_commit_callbacks(execute=True):
        assert events.events_apply_pending() == 1
    assert [(b["type"], b["data"]["message_id"]) for b in bodies(receiver)] == [("message.delivered", message.pk)]


@pytest.mark.django_db
def test_a_status_callback_costs_one_query_without_subscribers_and_none_for_sent(client, tenant, message):
    with CaptureQueriesContext(connection) as sent:
        post_status(client, message, "sent")
    with CaptureQueriesContext(connection) as delivered:
        post_status(client, message, "delivered")
    assert webhook_queries(sent) == [] and len(webhook_queries(delivered)) == 1
    assert not WebhookDelivery.objects.exists()


# --- clicks ------------------------------------------------------------------------------------


def click(link, ua: str, request_id: str) -> dict:
    return {"id": request_id, "link": link.id, "tenant": link.tenant_id, "campaign": link.campaign_id,
            "contact": link.contact_id, "at": time.time(), "method": "GET", "ua": ua, "ip": "x"}  # fmt: skip


@pytest.mark.django_db
def test_only_peoples_clicks_are_events_and_once_each(tenant, contact, receiver, django_capture_on_commit_callbacks):
    SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.LINK_CLICKED])
    now = timezone.now()
    link = ShortLink.objects.create(
        tenant=tenant, token="Tok3nAbcDe", destination="https://acme.example/sale", campaign_id=5, contact=contact,
        created_at=now, expires_at=now + timezone.timedelta(days=60),
    )  # fmt: skip
    batch = [click(link, IPHONE, "a" * 32), click(link, CRAWLER, "b" * 32)]
    with django_capture_on_commit_callbacks(execute=True):
        clicks.record(batch)
        clicks.record(batch)  # a flush retried after dying between insert and trim
    (body,) = bodies(receiver)
    assert body["type"] == "link.clicked"
    assert body["data"] == {
        "click_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "link_id": link.pk, "url": "https://acme.example/sale",
        "campaign_id": 5, "contact_id": contact.pk, "phone_e164": contact.phone_e164,
        "clicked_at": body["data"]["clicked_at"],
    }  # fmt: skip


@pytest.mark.django_db
def test_a_batch_of_clicks_costs_one_query_without_subscribers(tenant):
    now = timezone.now()
    link = ShortLink.objects.create(
        tenant=tenant, token="Tok3nAbcDe", destination="https://acme.example/", created_at=now,
        expires_at=now + timezone.timedelta(days=60),
    )  # fmt: skip
    with CaptureQueriesContext(connection) as captured:
        clicks.record([click(link, IPHONE, f"{n:032x}") for n in range(50)])
    assert len(webhook_queries(captured)) == 1


# --- campaigns and imports ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_campaign_is_announced_completed_once(tenant, contact, receiver, django_capture_on_commit_callbacks):
    SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.CAMPAIGN_COMPLETED])
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.RUNNING, jobs_created_at=timezone.now())
    job = SendJob.objects.create(
        tenant=tenant, campaign=campaign, contact=contact, status=JobStatus.PENDING, next_attempt_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_advance()
        assert receiver.requests == []  # a job still pending
        SendJob.objects.filter(pk=job.pk).update(status=JobStatus.SENT)
        campaigns_advance()
        campaigns_advance()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    (body,) = bodies(receiver)
    assert body["type"] == "campaign.completed"
    assert body["data"] == {
        "campaign_id": campaign.pk,
        "name": campaign.name,
        "completed_at": body["data"]["completed_at"],
    }


@pytest.mark.django_db
def test_a_finished_import_is_announced_with_its_counts(
    tenant, tmp_path, settings, receiver, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.IMPORT_COMPLETED])
    path = write_csv(tmp_path, "Ann,Lee,0412 345 678,,,,,\nBad,Number,12345,,,,,\n")
    with django_capture_on_commit_callbacks(execute=True):
        done = run_import(tenant, path)
    (body,) = bodies(receiver)
    assert body["type"] == "import.completed"
    data = body["data"]
    assert (data["import_id"], data["file_name"]) == (done.pk, "contacts.csv")
    assert (data["counts"]["create"], data["counts"]["invalid_phone"]) == (1, 1)


@pytest.mark.django_db
def test_a_number_a_person_puts_on_or_takes_off_the_list_is_announced(
    tenant, members, receiver, django_capture_on_commit_callbacks
):
    from contacts import services as contact_services

    SubscriptionFactory(
        tenant=tenant, url=receiver.url(), events=[EventType.CONTACT_OPTED_OUT, EventType.CONTACT_OPTED_IN]
    )
    admin = members["admin"]
    with django_capture_on_commit_callbacks(execute=True):
        entry, _ = contact_services.dnc_add(tenant=tenant, phone="0412 345 600", reason="manual", actor=admin)
        contact_services.dnc_add(tenant=tenant, phone="0412 345 600", reason="manual", actor=admin)  # again
        contact_services.dnc_remove(entry=entry, actor=admin, reason="Asked us on the phone")
    assert [(body["type"], body["data"]) for body in bodies(receiver)] == [
        ("contact.opted_out", {"phone_e164": "+61412345600", "reason": "manual", "by": "staff"}),
        ("contact.opted_in", {"phone_e164": "+61412345600", "reason": "Asked us on the phone", "by": "staff"}),
    ]


@pytest.mark.django_db
def test_a_hard_bounce_put_on_the_list_by_the_system_is_not_an_opt_out(
    tenant, receiver, django_capture_on_commit_callbacks
):
    from contacts import services as contact_services

    SubscriptionFactory(tenant=tenant, url=receiver.url(), events=[EventType.CONTACT_OPTED_OUT])
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.dnc_add(tenant=tenant, phone="0412 345 601", reason="hard_bounce", actor=None)
    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0
