"""Reads of event webhooks for pages and the dashboard."""

from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import Tenant
from webhooks.models import DisabledReason, WebhookDelivery, WebhookSubscription

DELIVERY_LOG_ROWS = 100


def subscriptions_of(*, tenant: Tenant) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(tenant=tenant).order_by("-id")


def delivery_log(*, subscription: WebhookSubscription, limit: int = DELIVERY_LOG_ROWS) -> list[WebhookDelivery]:
    """The subscription's newest deliveries, newest first."""
    return list(WebhookDelivery.objects.filter(subscription=subscription).order_by("-id")[:limit])


def disabled_for_failing(*, tenant: Tenant) -> list[WebhookSubscription]:
    """Subscriptions the delivery engine disabled after 24 hours of failures (the dashboard's
    warning, until an admin enables or deletes them). One query."""
    return list(
        WebhookSubscription.objects.filter(
            tenant=tenant, is_active=False, disabled_reason=DisabledReason.FAILING
        ).order_by("-disabled_at")
    )
