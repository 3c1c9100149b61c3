"""The beat scheduler: django-celery-beat's DatabaseScheduler, a heartbeat of its own, and no
exit when the database or Redis goes away.

Beat runs the dispatcher's schedule and the reconciler: if it stops, sending stops and jobs stay
``sending``. So every tick is guarded: while the database is unreachable beat skips the tick and
tries again with a growing pause (logging one line when it goes and one when it returns); a task
the broker would not take is logged the same way and sent again at its next due time.
"""

import logging
import time

from celery.beat import SchedulingError
from django.conf import settings
from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from smscrm.heartbeats import BEAT, heartbeat_record
from smscrm.outages import OUTAGE_ERRORS, Outage

logger = logging.getLogger(__name__)


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    """Records a beat heartbeat at most every HEARTBEAT_INTERVAL_SECONDS from its tick.

    The worker's heartbeat alone cannot tell a dead scheduler from a dead worker, since
    the worker's heartbeat task is sent by beat; this one is written by beat itself.
    """

    _last_heartbeat = 0.0

    def __init__(self, *args, **kwargs):
        self.database = Outage("beat: the database", logger)
        self.broker = Outage("beat: the broker", logger)
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        """Read the schedule at start-up, waiting for the database if it is not there yet."""
        while True:
            try:
                super().setup_schedule()
            except OUTAGE_ERRORS as exc:
                time.sleep(self.database.failed(exc))
            else:
                self.database.ok()
                return

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        try:
            if self.database.down or now - self._last_heartbeat >= settings.HEARTBEAT_INTERVAL_SECONDS:
                close_old_connections()
                heartbeat_record(component=BEAT)
                self._last_heartbeat = now
                self.database.ok()
            interval = super().tick(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            return self.database.failed(exc)
        # Wake up in time for the next heartbeat even when no task is due for a while.
        return min(interval, settings.HEARTBEAT_INTERVAL_SECONDS)

    def apply_entry(self, entry, producer=None):
        """Send a due task; the broker's outage is one line, not a traceback per task and tick.

        Celery wraps a failed publish in SchedulingError, which its Service lets end beat.
        """
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except (SchedulingError, *OUTAGE_ERRORS) as exc:
            self.broker.failed(exc)
        else:
            self.broker.ok()
