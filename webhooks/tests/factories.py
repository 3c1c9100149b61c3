"""Subscriptions and deliveries for tests, written directly (the service resolves the URL's host)."""

from __future__ import annotations

import factory

from tenants.tests.factories import TenantFactory
from webhooks.models import EventType, WebhookSubscription
from webhooks.signing import secret_new


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    tenant = factory.SubFactory(TenantFactory)
    url = "https://hooks.example.com/sms"
    events = factory.LazyFunction(lambda: list(EventType.values))
    secret = factory.LazyFunction(secret_new)
