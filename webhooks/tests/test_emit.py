"""Emitting: nothing but one query for a tenant nobody subscribed for; an outbox row per subscription."""

from __future__ import annotations

import pytest
from django.db import transaction

from webhooks.events import event_emit, events_emit, subscribers_of
from webhooks.models import EventType, WebhookDelivery
from webhooks.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db
OPTED_OUT = EventType.CONTACT_OPTED_OUT


def test_no_subscription_costs_one_query_and_writes_nothing(tenant, other_tenant, django_assert_num_queries):
    SubscriptionFactory(tenant=other_tenant)  # another tenant's, to every event
    SubscriptionFactory(tenant=tenant, events=[EventType.LINK_CLICKED])  # ours, to another event
    SubscriptionFactory(tenant=tenant, is_active=False, disabled_at="2026-01-01T00:00Z")  # ours, disabled
    built = []
    with django_assert_num_queries(1):
        assert event_emit(tenant_id=tenant.pk, type=OPTED_OUT, data=lambda: built.append(1) or {}) == 0
    assert built == []  # the data is never built for nobody
    assert not WebhookDelivery.objects.exists()


def test_many_tenants_are_looked_up_in_one_query(tenant, other_tenant, django_assert_num_queries):
    ours = SubscriptionFactory(tenant=tenant, events=[OPTED_OUT])
    with django_assert_num_queries(1):
        found = subscribers_of(tenant_ids=[tenant.pk, other_tenant.pk, None], type=OPTED_OUT)
    assert list(found) == [tenant.pk] and [s.id for s in found[tenant.pk]] == [ours.pk]
    with django_assert_num_queries(0):
        assert subscribers_of(tenant_ids=[], type=OPTED_OUT) == {}


def test_each_subscription_gets_the_same_event_in_one_insert(tenant, django_assert_num_queries):
    first, second = SubscriptionFactory(tenant=tenant), SubscriptionFactory(tenant=tenant, url="https://b.example/")
    subscribed = subscribers_of(tenant_ids=[tenant.pk], type=OPTED_OUT)
    with django_assert_num_queries(3):  # savepoint, INSERT, release
        written = events_emit(
            type=OPTED_OUT, events=[(tenant.pk, {"phone_e164": "+61412000001"}), (tenant.pk, {"n": 2})],
            subscribed=subscribed,
        )  # fmt: skip
    assert written == 4
    rows = list(WebhookDelivery.objects.order_by("id"))
    assert {r.subscription_id for r in rows} == {first.pk, second.pk}
    assert len({r.event_id for r in rows}) == 2  # one id per event, shared by its subscriptions
    assert rows[0].payload["data"] == {"phone_e164": "+61412000001"}
    assert rows[0].payload["tenant"] == {"id": tenant.pk, "slug": "acme"}


def test_an_event_rolled_back_leaves_no_delivery_and_sends_nothing(tenant, django_capture_on_commit_callbacks):
    SubscriptionFactory(tenant=tenant)
    with django_capture_on_commit_callbacks() as queued, pytest.raises(RuntimeError), transaction.atomic():
        event_emit(tenant_id=tenant.pk, type=OPTED_OUT, data={})
        raise RuntimeError("the event's transaction fails")
    assert queued == [] and not WebhookDelivery.objects.exists()
