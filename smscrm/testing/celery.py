"""Celery publishing for real, to a broker a test chooses (tests only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def publishing_to(broker_url: str) -> Iterator:
    """Tasks are published to ``broker_url`` instead of running at once; the app's settings and
    connection pools (pooled per broker URL) are fresh on the way in and restored on the way out."""
    from smscrm.celery import app

    changes = {"task_always_eager": False, "broker_url": broker_url, "task_publish_retry": False}
    before = {key: app.conf.get(key) for key in changes}

    def fresh_pool():
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.update(changes)
    fresh_pool()
    try:
        yield app
    finally:
        app.conf.update(before)
        fresh_pool()
