"""Emitting events: an outbox row per subscription, in the event's own transaction.

The apps above call these where something a receiver cares about happens (a STOP, a status
callback, a batch of clicks). Nearly every tenant subscribes to nothing, and these run on hot
paths, so the cost for them is one indexed query (``subscribers_of``, the tenant's active
subscriptions) and nothing more: callers ask first, and build the event's data only for tenants
that have subscribers. For those, ``events_emit`` writes one ``WebhookDelivery`` per event and
subscription (in the caller's transaction: if the event rolls back, so do its deliveries; if it
commits, a broker outage loses nothing, the sweep finds them) and queues an attempt of each
after the commit. Nothing is sent from the caller's process (except under
CELERY_TASK_ALWAYS_EAGER, where every task runs in place).

The body of every delivery::

    {"id": "<uuid>", "type": "contact.opted_out", "timestamp": "2026-11-25T03:00:00.000Z",
     "tenant": {"id": 1, "slug": "acme"}, "data": {...}}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from webhooks import tasks
from webhooks.delivery import LEASE
from webhooks.models import WebhookDelivery, WebhookSubscription


@dataclass(frozen=True)
class Subscriber:
    id: int
    tenant_slug: str
    failing: bool  # held back: its deliveries wait for the sweep's probe


Subscribed = dict[int, list[Subscriber]]  # by tenant id


def timestamp(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z: ``2026-11-25T03:00:00.000Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def subscribers_of(*, tenant_ids: Iterable[int], type: str) -> Subscribed:
    """The active subscriptions to ``type`` of each of these tenants, in one query (none: {})."""
    ids = {tenant_id for tenant_id in tenant_ids if tenant_id is not None}
    if not ids:
        return {}
    found: Subscribed = {}
    rows = WebhookSubscription.objects.filter(tenant_id__in=ids, is_active=True).values_list(
        "id", "tenant_id", "tenant__slug", "events", "failing_since"
    )
    for pk, tenant_id, slug, events, failing_since in rows:
        if type in events:
            found.setdefault(tenant_id, []).append(Subscriber(pk, slug, failing_since is not None))
    return found


def events_emit(
    *, type: str, events: Iterable[tuple[int, dict]], subscribed: Subscribed, at: datetime | None = None
) -> int:
    """Write a delivery of each (tenant id, data) to each of that tenant's ``subscribed``
    subscriptions, and queue their attempts after the commit. How many were written."""
    now = at or timezone.now()
    rows, fast = [], []
    for tenant_id, data in events:
        subscribers = subscribed.get(tenant_id)
        if not subscribers:
            continue
        event_id = uuid.uuid4()
        payload = {
            "id": str(event_id),
            "type": type,
            "timestamp": timestamp(now),
            "tenant": {"id": tenant_id, "slug": subscribers[0].tenant_slug},
            "data": data,
        }
        for subscriber in subscribers:
            rows.append(
                WebhookDelivery(
                    tenant_id=tenant_id,
                    subscription_id=subscriber.id,
                    event_id=event_id,
                    event_type=type,
                    payload=payload,
                    # Leased while its task is queued; a failing URL's deliveries wait for the sweep.
                    next_attempt_at=now if subscriber.failing else now + LEASE,
                    created_at=now,
                )
            )
            fast.append(not subscriber.failing)
    if not rows:
        return 0
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
        tasks.enqueue_after_commit([(row.pk, 0) for row, queue in zip(rows, fast, strict=True) if queue])
    return len(rows)


def event_emit(*, tenant_id: int, type: str, data: dict | Callable[[], dict]) -> int:
    """One event of one tenant: one query when nobody subscribes to ``type``; ``data`` may be a
    function, called only when somebody does."""
    subscribed = subscribers_of(tenant_ids=[tenant_id], type=type)
    if not subscribed:
        return 0
    return events_emit(type=type, events=[(tenant_id, data() if callable(data) else data)], subscribed=subscribed)
