"""Watching PostgreSQL's lock manager from a test: wait until another connection is blocked.

A test that means "this call waits for that lock" polls for exactly that, with a deadline,
instead of sleeping and hoping the other thread got there.
"""

from __future__ import annotations

import time

from django.db import connection


def backend_pid() -> int:
    """This thread's PostgreSQL backend process id (its connection opens if it was closed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def blocked_on_a_lock(pid: int, *, timeout: float = 10.0) -> bool:
    """True as soon as backend ``pid`` waits for a lock another backend holds; False at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid])
            if cursor.fetchone()[0]:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
