"""Living through an outage of the database or Redis: back off, say it once, carry on.

Long-running processes (beat, ``manage.py dispatch --loop``) must outlive PostgreSQL or Redis
going away and pick up where they were when it returns. ``OUTAGE_ERRORS`` are the exceptions
that mean "a service we depend on is not answering"; ``Outage`` turns a stream of them into one
log line when the service goes away and one when it is back, and the delay before the next try
(doubling from ``first`` to ``most`` seconds). Nothing here retries by itself: each caller keeps
its own promise (the dispatcher never sends without a rate-limit slot, because a failing limiter
fails the batch before any hand-off).
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.db import DatabaseError, InterfaceError, close_old_connections, connections
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

OUTAGE_ERRORS = (DatabaseError, InterfaceError, RedisError, KombuError, OSError)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class Outage:
    """The state of one dependency as a process sees it."""

    def __init__(self, what: str, logger: logging.Logger, *, first: float = 0.5, most: float = 10.0):
        self.what = what
        self.logger = logger
        self.first = first
        self.most = most
        self.since: float | None = None
        self.delay = 0.0
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Record a failure; the seconds to wait before trying again."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.logger.warning("%s unavailable (%s); retrying until it is back", self.what, _short(exc))
        self.delay = min(self.delay * 2 if self.delay else self.first, self.most)
        if isinstance(exc, DatabaseError | InterfaceError):
            forget_database_connections()
        return self.delay

    def ok(self) -> None:
        """Record a success; says so once when it ends an outage."""
        if self.since is not None:
            self.logger.warning(
                "%s back after %.0f s (%d failed attempts)", self.what, time.monotonic() - self.since, self.failures
            )
        self.since, self.delay, self.failures = None, 0.0, 0


def probe() -> None:
    """One round trip to the database and (when configured) Redis; raises an outage error if either is away."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        get_redis_connection("default").ping()


def forget_database_connections() -> None:
    """Drop broken connections so the next query opens a fresh one."""
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(DatabaseError):
            connection.close()
    close_old_connections()
