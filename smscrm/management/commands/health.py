import json

from django.core.management.base import BaseCommand, CommandError

from smscrm.health import run_checks


class Command(BaseCommand):
    help = "Run the /health checks from the command line; exit 1 when any fails."

    def add_arguments(self, parser):
        parser.add_argument("checks", nargs="*", help="Checks to run (database, redis, worker, beat); all by default.")

    def handle(self, *args, checks, **options):
        healthy, results = run_checks(checks or None)
        self.stdout.write(json.dumps({"status": "ok" if healthy else "fail", "checks": results}))
        if not healthy:
            raise CommandError("unhealthy: " + ", ".join(n for n, r in results.items() if r["status"] != "ok"))
