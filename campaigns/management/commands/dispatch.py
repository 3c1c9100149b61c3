"""Run the dispatcher in this process: once, or in a loop (a dedicated sender process).

python manage.py dispatch --loop

The loop outlives an outage of the database or Redis: it backs off (0.5 s doubling to 10 s),
logs one line when the outage starts and one when it ends, and carries on. A batch that meets
the outage sends nothing it has not recorded (its decision rolls back; a message already handed
over is settled by the reconciler), and nothing goes without a rate-limit slot: a limiter that
cannot answer fails its batch.
"""

import json
import logging
import signal
import time

from django.core.management.base import BaseCommand

from campaigns import dispatch
from smscrm.outages import OUTAGE_ERRORS, Outage, probe

logger = logging.getLogger("campaigns.dispatch")


class Command(BaseCommand):
    help = "Hand off due send jobs through the seven gates (once, or --loop until stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep going; sleep briefly when nothing is due.")
        parser.add_argument("--max-seconds", type=float, default=50.0)
        parser.add_argument("--idle-exit", type=float, default=0.0, help="With --loop: stop after this long idle.")

    def handle(self, *args, loop: bool, max_seconds: float, idle_exit: float, **options):
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        total = dispatch.DispatchStats()
        idle_since = time.monotonic()
        outage = Outage("dispatch: the database or Redis", logger)
        while True:
            try:
                if outage.down:  # say it is back as soon as it is, not after a long first pass
                    probe()
                    outage.ok()
                stats = dispatch.dispatch(max_seconds=max_seconds)
            except OUTAGE_ERRORS as exc:
                if not loop:
                    raise
                pause = outage.failed(exc)
                while pause > 0 and not stopping:  # a SIGTERM ends the wait at once
                    time.sleep(min(pause, 0.2))
                    pause -= 0.2
                if stopping:
                    break
                idle_since = time.monotonic()
                continue
            outage.ok()
            total.merge(stats)
            if stats.claimed:
                idle_since = time.monotonic()
            if not loop or stopping or (idle_exit and time.monotonic() - idle_since > idle_exit):
                break
            if not stats.claimed:
                time.sleep(0.2)
        self.stdout.write(json.dumps({"claimed": total.claimed, "sent": total.sent, "outcomes": total.outcomes}))
