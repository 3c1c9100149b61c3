"""Run the dispatcher in this process: once, or in a loop (a dedicated sender process).

python manage.py dispatch --loop
"""

import json
import signal
import time

from django.core.management.base import BaseCommand

from campaigns import dispatch


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
        while True:
            stats = dispatch.dispatch(max_seconds=max_seconds)
            total.merge(stats)
            if stats.claimed:
                idle_since = time.monotonic()
            if not loop or stopping or (idle_exit and time.monotonic() - idle_since > idle_exit):
                break
            if not stats.claimed:
                time.sleep(0.2)
        self.stdout.write(json.dumps({"claimed": total.claimed, "sent": total.sent, "outcomes": total.outcomes}))
