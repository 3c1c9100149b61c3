"""The beat scheduler: django-celery-beat's DatabaseScheduler plus a heartbeat of its own."""

import time

from django.conf import settings
from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from smscrm.heartbeats import BEAT, heartbeat_record


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    """Records a beat heartbeat at most every HEARTBEAT_INTERVAL_SECONDS from its tick.

    The worker's heartbeat alone cannot tell a dead scheduler from a dead worker, since
    the worker's heartbeat task is sent by beat; this one is written by beat itself.
    """

    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._last_heartbeat >= settings.HEARTBEAT_INTERVAL_SECONDS:
            close_old_connections()
            heartbeat_record(component=BEAT)
            self._last_heartbeat = now
        interval = super().tick(*args, **kwargs)
        # Wake up in time for the next heartbeat even when no task is due for a while.
        return min(interval, settings.HEARTBEAT_INTERVAL_SECONDS)
