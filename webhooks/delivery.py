"""Delivering events: one attempt at a time, retries with backoff, a failing URL held back.

An attempt (``delivery_attempt``, the ``webhooks.deliver`` task) claims the delivery with a
conditional UPDATE on its attempt count (a second copy of the task finds the count moved and
does nothing), checks the URL's address again, POSTs the signed body to exactly that address
with a 5 s limit (``webhooks.transport``) and records the outcome:

- a 2xx answer: delivered; the subscription is healthy again;
- anything else (another status, a redirect, a timeout, a refused connection or address):
  retrying, next at 30 s, 1, 2, 4 … minutes (at most an hour apart) until 24 hours after the
  delivery's first failure, then failed. The subscription is failing from its first failure
  and waits ``retry_at`` (the same backoff, counted over its consecutive failures) before any
  further attempt; the sweep then sends one delivery as a probe (the one waiting longest, so
  a single event the receiver refuses does not hold the others back), and only a success lets
  the rest go. A dead receiver therefore costs one attempt per backoff step, not one per event,
  and never fills the worker's queue with 5-second timeouts.
- a subscription failing continuously for 24 hours (``failing_since``) is disabled: its open
  deliveries fail, the activity log records it and the dashboard tells its admins.

``deliveries_claim_due`` (the ``webhooks.deliver_due`` sweep, every 15 s) finds what is due:
retries, probes of failing subscriptions and any delivery whose task the broker lost (its
lease, ``next_attempt_at``, lapsed). It also deletes closed deliveries past ``KEEP_LOG``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenants.services import audit_record
from webhooks import transport
from webhooks.addresses import target_check
from webhooks.models import (
    OPEN_STATUSES,
    DeliveryStatus,
    DisabledReason,
    WebhookAction,
    WebhookDelivery,
    WebhookSubscription,
)
from webhooks.signing import body_bytes, signed_headers

logger = logging.getLogger(__name__)

# An attempt under way keeps its delivery from being due again for this long (well over the
# request's time limit and a slow DNS answer): a worker that died mid-attempt is retried then.
LEASE = timedelta(minutes=2)
RETRY_FOR = timedelta(hours=24)
DISABLE_AFTER = timedelta(hours=24)
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
# Deliveries the sweep hands out per run, and failing subscriptions it probes per run.
SWEEP_LIMIT = 500
PROBES_PER_SWEEP = 100
# Closed deliveries older than this leave the log (at most PRUNE_LIMIT per sweep).
KEEP_LOG = timedelta(days=30)
PRUNE_LIMIT = 5000
DISABLED_FOR_FAILING = "The subscription was disabled after failing for 24 hours."
CLOSED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


def backoff(failures: int) -> timedelta:
    """The wait after the ``failures``-th failure in a row: 30 s, 1 min, 2 min … at most 1 h."""
    return min(FIRST_BACKOFF * 2 ** min(max(failures - 1, 0), 16), MAX_BACKOFF)


def delivery_attempt(*, delivery_id: int, attempt: int) -> str | None:
    """Make the attempt after ``attempt`` earlier ones, unless another already has (or the
    delivery is closed); the delivery's new status, or None when there was nothing to do."""
    delivery = _claim(delivery_id, attempt)
    if delivery is None:
        return None
    subscription = delivery.subscription
    if not subscription.is_active:  # disabled after the task was queued
        WebhookDelivery.objects.filter(pk=delivery.pk, status__in=OPEN_STATUSES).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, last_error="The subscription is disabled."
        )
        return DeliveryStatus.FAILED
    answer = _send(delivery, subscription)
    return _record(delivery, answer)


def _claim(delivery_id: int, attempt: int) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, attempts=attempt, status__in=OPEN_STATUSES).update(
        attempts=attempt + 1, next_attempt_at=now + LEASE, last_attempt_at=now
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)


def _send(delivery: WebhookDelivery, subscription: WebhookSubscription) -> transport.Answer:
    try:
        target = target_check(subscription.url)  # again: the name may resolve elsewhere by now
    except ValidationError as exc:
        return transport.Answer(None, " ".join(exc.messages)[:300])
    body = body_bytes(delivery.payload)
    headers = signed_headers(secret=subscription.secret, event_id=str(delivery.event_id), at=timezone.now(), body=body)
    return transport.post(target, body, headers, timeout=settings.WEBHOOKS_TIMEOUT_SECONDS)


def _record(delivery: WebhookDelivery, answer: transport.Answer) -> str:
    now = timezone.now()
    if answer.ok:
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.DELIVERED,
                delivered_at=now,
                next_attempt_at=None,
                last_status_code=answer.status,
                last_error="",
            )
            WebhookSubscription.objects.filter(pk=delivery.subscription_id).filter(
                Q(failing_since__isnull=False) | Q(consecutive_failures__gt=0) | Q(retry_at__isnull=False)
            ).update(failing_since=None, retry_at=None, consecutive_failures=0)
        return DeliveryStatus.DELIVERED
    error = answer.error or f"The receiver answered HTTP {answer.status}."
    # The 24 hours start at the first failure, the moment the subscription's failing time
    # starts too (when it was not failing already): a delivery given up on after 24 hours of
    # failures is always the one that disables a subscription failing as long.
    retry_until = delivery.retry_until or now + RETRY_FOR
    gave_up = now >= retry_until
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED if gave_up else DeliveryStatus.RETRYING,
            retry_until=retry_until,
            next_attempt_at=None if gave_up else min(now + backoff(delivery.attempts), retry_until),
            last_status_code=answer.status,
            last_error=error[:300],
        )
        _subscription_failed(delivery.subscription_id, now=now, error=error)
    return DeliveryStatus.FAILED if gave_up else DeliveryStatus.RETRYING


def _subscription_failed(subscription_id: int, *, now: datetime, error: str) -> None:
    """Count a failure against the subscription; disable it once failing for DISABLE_AFTER."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    subscription.consecutive_failures += 1
    subscription.failing_since = subscription.failing_since or now
    subscription.retry_at = now + backoff(subscription.consecutive_failures)
    fields = ["consecutive_failures", "failing_since", "retry_at"]
    if subscription.is_active and now - subscription.failing_since >= DISABLE_AFTER:
        subscription.is_active = False
        subscription.disabled_at = now
        subscription.disabled_reason = DisabledReason.FAILING
        fields += ["is_active", "disabled_at", "disabled_reason"]
        open_deliveries_fail(subscription=subscription, reason=DISABLED_FOR_FAILING)
        audit_record(
            tenant=subscription.tenant,
            actor=None,
            action=WebhookAction.DISABLED_FAILING,
            target=subscription.url,
            data={"subscription": subscription.pk, "since": subscription.failing_since.isoformat(), "error": error},
        )
        logger.warning("webhook subscription %s disabled after failing for 24 hours", subscription.pk)
    subscription.save(update_fields=fields)


def open_deliveries_fail(*, subscription: WebhookSubscription, reason: str) -> int:
    """Close the subscription's open deliveries as failed (it no longer sends)."""
    return WebhookDelivery.objects.filter(subscription=subscription, status__in=OPEN_STATUSES).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=reason[:300]
    )


def deliveries_claim_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(delivery id, attempts) of the deliveries due now, each leased so the next sweep leaves
    it alone: every due one of a healthy subscription, one per failing subscription whose
    ``retry_at`` has come (its probe)."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status__in=OPEN_STATUSES, next_attempt_at__lte=now, subscription__is_active=True
    ).order_by("next_attempt_at", "id")  # a tie (events of one instant) goes oldest first, on any database
    picked = list(due.filter(subscription__failing_since__isnull=True).values_list("id", "attempts")[:SWEEP_LIMIT])
    probing = WebhookSubscription.objects.filter(is_active=True, failing_since__isnull=False, retry_at__lte=now)
    for subscription_id in probing.values_list("id", flat=True)[:PROBES_PER_SWEEP]:
        probe = due.filter(subscription_id=subscription_id).values_list("id", "attempts").first()
        if probe is not None:
            picked.append(probe)
    if picked:
        WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in picked]).update(next_attempt_at=now + LEASE)
    return picked


def deliveries_prune(*, now: datetime | None = None) -> int:
    """Delete closed deliveries older than KEEP_LOG, oldest first, at most PRUNE_LIMIT."""
    now = now or timezone.now()
    old = list(
        WebhookDelivery.objects.filter(created_at__lt=now - KEEP_LOG, status__in=CLOSED)
        .order_by("id")
        .values_list("id", flat=True)[:PRUNE_LIMIT]
    )
    if not old:
        return 0
    return WebhookDelivery.objects.filter(pk__in=old).delete()[0]
