"""``webhooks/`` in the API: 201 with the secret once, the same address check as the page, admins only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import AuditEvent, IdempotencyRecord
from webhooks.models import WebhookAction, WebhookSubscription
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/webhooks/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_creating_answers_201_with_the_secret_shown_once(tenant, members, receiver):
    client = api(members["admin"])
    response = client.post(URL, {"url": receiver.url(), "events": ["contact.opted_out"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    subscription = WebhookSubscription.objects.get(tenant=tenant)
    assert body["secret"] == subscription.secret and body["secret"].startswith("whsec_")
    assert (body["id"], body["url"], body["events"], body["is_active"]) == (
        subscription.pk, receiver.url(), ["contact.opted_out"], True
    )  # fmt: skip
    listed = client.get(URL).json()["results"]
    read = client.get(f"{URL}{subscription.pk}/").json()
    assert [row["id"] for row in listed] == [subscription.pk]
    assert "secret" not in listed[0] and "secret" not in read and subscription.secret not in str(listed)
    assert AuditEvent.objects.get().action == WebhookAction.CREATED


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"url": "http://127.0.0.1:9/hook", "events": ["contact.opted_out"]}, "url", "a loopback address"),
        ({"url": "https://hooks.example.com/", "events": ["contact.deleted"]}, "events", "not a valid choice"),
        ({"url": "https://hooks.example.com/", "events": []}, "events", "may not be empty"),
        ({"url": "ftp://hooks.example.com/", "events": ["link.clicked"]}, "url", "Use an https:// URL."),
    ],
)
def test_a_refused_url_or_event_is_a_400_naming_the_field(tenant, members, resolver, payload, field, words):
    resolver.names["hooks.example.com"] = ["93.184.215.14"]
    response = api(members["owner"]).post(URL, payload, format="json")
    assert response.status_code == 400 and field in response.json()["fields"] and words in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_only_admins_may_read_or_write(tenant, members, receiver):
    subscription = SubscriptionFactory(tenant=tenant)
    for role in ("viewer", "staff"):
        client = api(members[role])
        assert client.get(URL).status_code == 403
        assert client.get(f"{URL}{subscription.pk}/").status_code == 403
        assert client.post(URL, {"url": receiver.url(), "events": ["link.clicked"]}, format="json").status_code == 403
        assert client.delete(f"{URL}{subscription.pk}/").status_code == 403
    assert WebhookSubscription.objects.count() == 1


def test_another_tenants_subscription_is_a_404_and_deleting_ours_is_audited(tenant, members, other_owner):
    subscription = SubscriptionFactory(tenant=tenant)
    theirs = api(other_owner)
    assert theirs.get(f"{URL}{subscription.pk}/").status_code == 404
    assert theirs.delete(f"{URL}{subscription.pk}/").status_code == 404
    assert theirs.get(URL).json()["results"] == []
    assert api(members["admin"]).delete(f"{URL}{subscription.pk}/").status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert AuditEvent.objects.get().action == WebhookAction.DELETED


def test_with_api_keys_admins_subscribe_and_others_are_refused(tenant, api_keys, other_api_key, receiver):
    from tenants.testing import api_client, assert_api_hidden, assert_api_roles

    assert_api_roles(
        URL,
        keys=api_keys,
        allowed=["admin"],
        method="post",
        data=lambda: {"url": receiver.url(), "events": ["contact.opted_out"]},
        success=(201,),
    )
    subscription = WebhookSubscription.objects.get(tenant=tenant)
    response = api_client(api_keys["admin"]).post(
        URL, {"url": receiver.url(), "events": ["contact.opted_out"]}, format="json", HTTP_IDEMPOTENCY_KEY="sub-1"
    )
    again = api_client(api_keys["admin"]).post(
        URL, {"url": receiver.url(), "events": ["contact.opted_out"]}, format="json", HTTP_IDEMPOTENCY_KEY="sub-1"
    )
    assert response.status_code == again.status_code == 201
    assert response.json()["secret"].startswith("whsec_")
    # The replay is the same subscription, but the secret was shown once and is not kept for it.
    assert again.json() == {**response.json(), "secret": None}
    assert response.json()["secret"] not in str(IdempotencyRecord.objects.values_list("body", flat=True))
    assert WebhookSubscription.objects.filter(tenant=tenant).count() == 2
    for method in ("get", "delete"):
        assert_api_hidden(f"{URL}{subscription.pk}/", key=other_api_key, method=method)
