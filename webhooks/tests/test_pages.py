"""Settings › Webhooks: admins only, another tenant's subscriptions are 404, the secret shown once."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from standardwebhooks import Webhook

from tenants.models import AuditEvent
from tenants.testing import assert_hidden_from, assert_roles, client_for
from webhooks.models import (
    DeliveryStatus,
    DisabledReason,
    EventType,
    WebhookAction,
    WebhookDelivery,
    WebhookSubscription,
)
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db
ADMINS = ("admin", "owner")


def delivery_of(subscription, **fields) -> WebhookDelivery:
    event_id = uuid.uuid4()
    values = {
        "tenant": subscription.tenant,
        "subscription": subscription,
        "event_id": event_id,
        "event_type": EventType.CONTACT_OPTED_OUT,
        "payload": {"id": str(event_id), "type": "contact.opted_out", "data": {"phone_e164": "+61412000001"}},
        "status": DeliveryStatus.FAILED,
        "attempts": 3,
        "last_status_code": 502,
        **fields,
    }
    return WebhookDelivery.objects.create(**values)


def test_only_admins_may_use_the_pages(tenant, members):
    subscription = SubscriptionFactory(tenant=tenant)
    delivery = delivery_of(subscription)
    assert_roles(reverse("webhooks:list"), members=members, allowed=ADMINS)
    assert_roles(reverse("webhooks:detail", args=[subscription.pk]), members=members, allowed=ADMINS)
    assert_roles(reverse("webhooks:list"), members=members, allowed=ADMINS, method="post", success=(400,))
    for name in ("disable", "enable"):
        url = reverse(f"webhooks:{name}", args=[subscription.pk])
        assert_roles(url, members=members, allowed=ADMINS, method="post")
    send_again = reverse("webhooks:send_again", args=[subscription.pk, delivery.pk])
    assert_roles(send_again, members=members, allowed=ADMINS, method="post")
    assert_roles(
        lambda: reverse("webhooks:delete", args=[SubscriptionFactory(tenant=tenant).pk]),
        members=members, allowed=ADMINS, method="post",
    )  # fmt: skip


def test_another_tenants_subscription_is_missing(tenant, other_owner, other_tenant):
    subscription = SubscriptionFactory(tenant=tenant)
    delivery = delivery_of(subscription)
    for name in ("disable", "enable", "delete"):
        assert_hidden_from(reverse(f"webhooks:{name}", args=[subscription.pk]), user=other_owner, method="post")
    assert_hidden_from(reverse("webhooks:detail", args=[subscription.pk]), user=other_owner)
    assert_hidden_from(
        reverse("webhooks:send_again", args=[subscription.pk, delivery.pk]), user=other_owner, method="post"
    )
    # Their own subscription with our delivery's id is no way in either.
    theirs = SubscriptionFactory(tenant=other_tenant)
    assert_hidden_from(reverse("webhooks:send_again", args=[theirs.pk, delivery.pk]), user=other_owner, method="post")
    assert WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).exists()
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


def test_adding_a_webhook_shows_its_secret_once(tenant, members, receiver):
    client = client_for(members["admin"])
    response = client.post(
        reverse("webhooks:list"), {"url": receiver.url(), "events": ["contact.opted_out", "link.clicked"]}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    subscription = WebhookSubscription.objects.get(tenant=tenant)
    assert subscription.secret.startswith("whsec_") and len(Webhook(subscription.secret)._whsecret) == 32
    assert subscription.secret in response.content.decode()
    assert subscription.events == ["contact.opted_out", "link.clicked"]
    assert subscription.created_by == members["admin"]
    with connection.cursor() as cursor:  # stored encrypted, like provider auth tokens
        cursor.execute("SELECT secret FROM webhooks_webhooksubscription WHERE id = %s", [subscription.pk])
        assert cursor.fetchone()[0].startswith("fernet:")
    for url in (reverse("webhooks:list"), reverse("webhooks:detail", args=[subscription.pk])):
        page = client.get(url).content.decode()
        assert receiver.url() in page and subscription.secret not in page
    event = AuditEvent.objects.get(action=WebhookAction.CREATED)
    assert (event.actor, event.target) == (members["admin"], receiver.url())


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"url": "http://10.0.0.5/hook", "events": ["contact.opted_out"]}, "10.0.0.5 is a private address"),
        ({"url": "http://169.254.169.254/", "events": ["contact.opted_out"]}, "a cloud metadata address"),
        ({"url": "https://hooks.example.com/", "events": ["contact.deleted"]}, "not one of the available choices"),
        ({"url": "https://hooks.example.com/", "events": []}, "This field is required"),
    ],
)
def test_a_refused_url_or_event_is_a_form_error_and_nothing_is_saved(tenant, members, resolver, form, error):
    resolver.names["hooks.example.com"] = ["93.184.215.14"]
    response = client_for(members["owner"]).post(reverse("webhooks:list"), form)
    assert response.status_code == 400 and error in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_disabling_fails_open_deliveries_and_enabling_forgets_the_failures(tenant, members):
    subscription = SubscriptionFactory(
        tenant=tenant, failing_since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), consecutive_failures=4
    )
    waiting = delivery_of(subscription, status=DeliveryStatus.RETRYING)
    client = client_for(members["admin"])
    assert client.post(reverse("webhooks:disable", args=[subscription.pk])).status_code == 302
    subscription.refresh_from_db()
    assert (subscription.is_active, subscription.disabled_reason) == (False, DisabledReason.BY_ADMIN)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.last_error) == (DeliveryStatus.FAILED, "The subscription was disabled.")
    assert client.post(reverse("webhooks:enable", args=[subscription.pk])).status_code == 302
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.disabled_at is None and subscription.failing_since is None
    assert subscription.consecutive_failures == 0
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [WebhookAction.DISABLED, WebhookAction.ENABLED]


def test_deleting_removes_the_subscription_and_its_log(tenant, members):
    subscription = SubscriptionFactory(tenant=tenant)
    delivery_of(subscription)
    response = client_for(members["owner"]).post(reverse("webhooks:delete", args=[subscription.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("webhooks:list")
    assert not WebhookSubscription.objects.exists() and not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.get().action == WebhookAction.DELETED


def test_the_log_shows_each_delivery_in_the_business_zone_and_sends_one_again(
    tenant, members, receiver, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(tenant=tenant, url=receiver.url())
    failed = delivery_of(subscription, created_at=dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC))
    client = client_for(members["admin"])
    page = client.get(reverse("webhooks:detail", args=[subscription.pk])).content.decode()
    assert "25 Nov 2026 14:00:00" in page  # 03:00 UTC in Sydney (daylight saving)
    assert "HTTP 502" in page and "Failed" in page and str(failed.event_id) in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhooks:send_again", args=[subscription.pk, failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_status_code) == (DeliveryStatus.DELIVERED, 4, 200)
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == str(failed.event_id)  # the same event, so receivers can tell
    assert json.loads(request.body)["data"] == {"phone_e164": "+61412000001"}
    assert AuditEvent.objects.get().action == WebhookAction.SENT_AGAIN


def test_a_disabled_subscription_sends_nothing_again(tenant, members, receiver, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(
        tenant=tenant, url=receiver.url(), is_active=False, disabled_at="2026-01-01T00:00Z"
    )
    failed = delivery_of(subscription)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(members["admin"]).post(
            reverse("webhooks:send_again", args=[subscription.pk, failed.pk]), follow=True
        )
    assert "Enable the subscription first" in response.content.decode()
    assert receiver.requests == []


def test_the_dashboard_tells_admins_of_a_webhook_disabled_for_failing(tenant, members):
    subscription = SubscriptionFactory(
        tenant=tenant, is_active=False, disabled_at=dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC),
        disabled_reason=DisabledReason.FAILING,
    )  # fmt: skip
    SubscriptionFactory(tenant=tenant, url="https://by-hand.example/", is_active=False, disabled_at="2026-01-01T00:00Z")
    for role in ADMINS:
        page = client_for(members[role]).get(reverse("reporting:dashboard")).content.decode()
        assert "The webhook to https://hooks.example.com/sms failed for 24 hours and was disabled" in page
        assert "25 Nov 2026 14:00" in page and reverse("webhooks:detail", args=[subscription.pk]) in page
        assert "by-hand.example" not in page  # disabled by a person: nothing to tell
    for role in ("viewer", "staff"):
        assert (
            "failed for 24 hours" not in client_for(members[role]).get(reverse("reporting:dashboard")).content.decode()
        )
