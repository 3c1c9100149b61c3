"""Handing work to Celery without depending on the broker being up at that instant.

Work that must follow a commit leaves a state in the database that a periodic sweep finishes
(a transactional outbox): a launched campaign without jobs, an import whose lease lapsed, a
message without a final status. Enqueuing the task right after the commit is then only the
fast path: ``enqueue_after_commit`` never lets a broker outage fail the request or the task
that committed (the sweep will pick the work up), and logs one line instead. For work with no
sweep behind it, ``fallback`` runs it in this process instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import KombuError

logger = logging.getLogger(__name__)


def enqueue(task, *args, fallback: Callable[[], object] | None = None, **options) -> bool:
    """Send ``task`` now; False (logged, ``fallback`` run) when the broker did not take it.

    Only the broker's failures are caught: a task run in this process (CELERY_TASK_ALWAYS_EAGER)
    raises its own errors as it would anywhere.
    """
    try:
        task.apply_async(args=args, **options)
        return True
    except (KombuError, OSError):  # the broker or the network: the sweep (or the fallback) covers it
        logger.warning(
            "broker unavailable: %s not queued%s",
            task.name,
            "; running it here" if fallback else "; its periodic sweep will do it",
        )
        if fallback is not None:
            fallback()
        return False


def enqueue_after_commit(task, *args, fallback: Callable[[], object] | None = None, **options) -> None:
    """``enqueue`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task, *args, fallback=fallback, **options))
