import json

from django.core.management.base import BaseCommand, CommandError

from smscrm.health import check_names, run_checks


class Command(BaseCommand):
    help = "Run the /health checks from the command line; exit 1 when any fails."

    def add_arguments(self, parser):
        parser.add_argument(
            "checks",
            nargs="*",
            help=(
                "Checks to run (database, redis, worker:<queue> for each queue, beat; worker means every "
                "queue's worker check); all by default."
            ),
        )

    def handle(self, *args, checks, **options):
        # A misspelt name would select nothing and pass: a health check that can never fail.
        unknown = sorted(set(checks) - set(check_names()))
        if unknown:
            raise CommandError(f"unknown check(s): {', '.join(unknown)} (known: {', '.join(check_names())})")
        healthy, results = run_checks(checks or None)
        self.stdout.write(json.dumps({"status": "ok" if healthy else "fail", "checks": results}))
        if not healthy:
            raise CommandError("unhealthy: " + ", ".join(n for n, r in results.items() if r["status"] != "ok"))
