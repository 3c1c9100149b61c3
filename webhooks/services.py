"""Every write a person causes to event webhooks: subscribe, delete, disable, enable, send again.

One transaction each, audited. The delivery engine's own writes are in ``webhooks.delivery``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.models import Tenant
from tenants.services import acting_user, audit_record
from webhooks import tasks
from webhooks.addresses import target_check
from webhooks.delivery import LEASE, open_deliveries_fail
from webhooks.models import (
    MAX_SUBSCRIPTIONS_PER_TENANT,
    DeliveryStatus,
    DisabledReason,
    WebhookAction,
    WebhookDelivery,
    WebhookSubscription,
)
from webhooks.signing import secret_new


def webhook_subscription_create(
    *, tenant: Tenant, actor, url: str, events: list[str]
) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` to ``events``; the subscription and its signing secret (shown once).

    Refused (ValidationError, nothing written) for an unknown event, a URL that is not https in
    production, or whose host resolves to a loopback, private, link-local or metadata address.
    """
    secret = secret_new()
    subscription = WebhookSubscription(
        tenant=tenant, url=(url or "").strip(), events=list(events or []), secret=secret, created_by=acting_user(actor)
    )
    subscription.full_clean()
    try:
        target_check(subscription.url)
    except ValidationError as exc:
        raise ValidationError({"url": exc.messages}) from None
    with transaction.atomic():
        # The tenant's row serialises concurrent creations, so the cap holds.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if WebhookSubscription.objects.filter(tenant=tenant).count() >= MAX_SUBSCRIPTIONS_PER_TENANT:
            raise ValidationError(f"A business may have at most {MAX_SUBSCRIPTIONS_PER_TENANT} webhook subscriptions.")
        subscription.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action=WebhookAction.CREATED,
            target=subscription.url,
            data={"subscription": subscription.pk, "events": subscription.events},
        )
    return subscription, secret


def webhook_subscription_delete(*, subscription: WebhookSubscription, actor) -> None:
    """Delete the subscription and its delivery log; nothing more is sent to it."""
    with transaction.atomic():
        audit_record(
            tenant=subscription.tenant,
            actor=actor,
            action=WebhookAction.DELETED,
            target=subscription.url,
            data={"subscription": subscription.pk, "events": subscription.events},
        )
        subscription.delete()


def webhook_subscription_set_active(*, subscription: WebhookSubscription, actor, active: bool) -> WebhookSubscription:
    """Disable (its open deliveries fail) or enable again (healthy, failures forgotten)."""
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.is_active == active:
            return locked
        now = timezone.now()
        if active:
            locked.is_active, locked.disabled_at, locked.disabled_reason = True, None, ""
            locked.failing_since, locked.retry_at, locked.consecutive_failures = None, None, 0
        else:
            locked.is_active, locked.disabled_at, locked.disabled_reason = False, now, DisabledReason.BY_ADMIN
            open_deliveries_fail(subscription=locked, reason="The subscription was disabled.")
        locked.save()
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=WebhookAction.ENABLED if active else WebhookAction.DISABLED,
            target=locked.url,
            data={"subscription": locked.pk},
        )
    return locked


def webhook_delivery_send_again(*, delivery: WebhookDelivery, actor) -> None:
    """Send a delivery again (the same event id), with a fresh 24 hours of retries."""
    if not delivery.subscription.is_active:
        raise ValidationError("Enable the subscription first: a disabled subscription sends nothing.")
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        locked.status = DeliveryStatus.PENDING
        locked.next_attempt_at = timezone.now() + LEASE
        locked.retry_until = None
        locked.save(update_fields=["status", "next_attempt_at", "retry_until"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=WebhookAction.SENT_AGAIN,
            target=delivery.subscription.url,
            data={"subscription": locked.subscription_id, "event": str(locked.event_id), "type": locked.event_type},
        )
        tasks.enqueue_after_commit([(locked.pk, locked.attempts)])
