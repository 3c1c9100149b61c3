import json

from django.core.management.base import BaseCommand, CommandError

from smscrm import cutover
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Walk the go-live checklist for one business: PASS, FAIL or TO DO per item, with the evidence and "
        "the next step. Exits 1 while any item is FAIL (with --strict, while any is FAIL or TO DO), else 0."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="The business's slug.")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="A JSON list of {key, title, status, evidence, next}."
        )
        parser.add_argument(
            "--strict", action="store_true", help="Also exit 1 while any item is TO DO (for the final go-live run)."
        )

    def handle(self, *args, tenant: str, as_json: bool, strict: bool, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"no business with the slug {tenant!r}", returncode=2)
        results = cutover.run(found)
        if as_json:
            self.stdout.write(json.dumps([item.as_dict() for item in results], indent=2))
        else:
            width = max(len(item.key) for item in results)
            for item in results:
                self.stdout.write(f"{item.status:<5}  {item.key:<{width}}  {item.evidence}")
                if item.status != cutover.PASS:
                    self.stdout.write(f"{'':<5}  {'':<{width}}  next: {item.next}")
        stopping = cutover.failing(results, strict=strict)
        if stopping:
            raise CommandError(f"not ready: {', '.join(f'{i.key} ({i.status})' for i in stopping)}")
