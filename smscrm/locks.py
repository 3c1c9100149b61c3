"""One run at a time for periodic tasks (RapidPro's cron_task): an overlapping run skips."""

from __future__ import annotations

import functools
import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def single_run(name: str, *, timeout: int = 300):
    """Decorate a task body: while a run holds the lock (at most ``timeout`` s), others return None."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = f"lock:{name}"
            if not cache.add(key, 1, timeout=timeout):
                logger.debug("%s: another run holds the lock; skipped", name)
                return None
            try:
                return func(*args, **kwargs)
            finally:
                cache.delete(key)

        return wrapper

    return decorate
