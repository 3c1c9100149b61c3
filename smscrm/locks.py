"""One run at a time for periodic tasks (RapidPro's cron_task): an overlapping run skips.

The one place the cache lock is written: ``single_run`` for a task body, ``held`` for a
stretch of code that must skip when another process is at it (the click flusher).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

from django.core.cache import cache

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def held(name: str, *, timeout: int = 300) -> Iterator[bool]:
    """``with held("links.flush_clicks", timeout=120) as mine:``: True when this run took the lock
    (released on leaving, or after ``timeout`` s if the process dies), False when another has it."""
    key = f"lock:{name}"
    if not cache.add(key, 1, timeout=timeout):
        logger.debug("%s: another run holds the lock; skipped", name)
        yield False
        return
    try:
        yield True
    finally:
        cache.delete(key)


def single_run(name: str, *, timeout: int = 300):
    """Decorate a task body: while a run holds the lock (at most ``timeout`` s), others return None.

    ``name`` may name the task's positional arguments, one lock per object:
    ``single_run("reporting.refresh_campaign:{0}")`` lets two campaigns refresh at once, never
    one campaign twice."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with held(name.format(*args), timeout=timeout) as mine:
                return func(*args, **kwargs) if mine else None

        return wrapper

    return decorate
