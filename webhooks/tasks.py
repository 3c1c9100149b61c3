"""Thin tasks of event webhooks: one attempt, and the sweep that finds what is due."""

from __future__ import annotations

from collections.abc import Iterable

from celery import shared_task
from django.db import transaction

from smscrm.locks import single_run
from smscrm.queueing import enqueue
from webhooks import delivery


@shared_task(name="webhooks.deliver", ignore_result=True)
def deliver(delivery_id: int, attempt: int) -> None:
    """One attempt at a delivery, unless another copy of this task made it already."""
    delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)


@shared_task(name="webhooks.deliver_due", ignore_result=True)
@single_run("webhooks.deliver_due", timeout=120)
def deliver_due() -> None:
    """Periodic: retries, probes of failing URLs and deliveries whose task was lost; old log pruned."""
    enqueue_each(delivery.deliveries_claim_due())
    delivery.deliveries_prune()


def enqueue_each(due: Iterable[tuple[int, int]]) -> None:
    """Queue an attempt of each (delivery id, attempts); at the first broker failure stop: the
    rest are leased, and the sweep hands them out again when their lease lapses."""
    for delivery_id, attempt in due:
        if not enqueue(deliver, delivery_id, attempt):
            return


def enqueue_after_commit(due: list[tuple[int, int]]) -> None:
    if due:
        transaction.on_commit(lambda: enqueue_each(due))
