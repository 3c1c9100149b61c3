"""``manage.py pilot_check --tenant SLUG [--campaign ID]``: the launch criteria, PASS/FAIL each.

Exits 1 when any criterion fails (so a deploy script or CI job can gate on it), 0 otherwise.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.models import Campaign
from reporting.pilot import pilot_check
from reporting.pilot_runs import run_record
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Evaluate the pilot's launch criteria for a tenant (and one campaign); exit 1 if any fails."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--campaign", type=int, help="One campaign's id (default: all the tenant's campaigns).")

    def handle(self, *args, tenant: str, campaign: int | None, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        chosen = None
        if campaign is not None:
            chosen = Campaign.objects.filter(tenant=found, pk=campaign).first()
            if chosen is None:
                raise CommandError(f"Tenant {found.slug!r} has no campaign {campaign}.")
        result = pilot_check(found, chosen)
        run_record(result=result)  # kept in the page's history too
        when = timezone.localtime(result.checked_at, found.zone).strftime("%Y-%m-%d %H:%M %Z")
        scope = f'campaign {chosen.pk} "{chosen.name}"' if chosen else "all campaigns"
        self.stdout.write(f"Pilot check: {found.name} ({found.slug}), {scope}, {when}")
        width = max(len(check.title) for check in result.checks)
        for check in result.checks:
            line = f"{check.verdict:<4}  {check.title:<{width}}  {check.figure}"
            style = {True: self.style.SUCCESS, False: self.style.ERROR, None: self.style.WARNING}[check.passed]
            self.stdout.write(style(line))
            for example in check.examples:
                self.stdout.write(f"        {example}")
        failed = len(result.failed)
        skipped = sum(check.passed is None for check in result.checks)
        summary = f"{len(result.checks)} checks, {failed} failed, {skipped} not applicable"
        if failed:
            self.stdout.write(self.style.ERROR(f"Result: FAIL ({summary})"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"Result: PASS ({summary})"))
