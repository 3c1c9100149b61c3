"""``manage.py emergency_stop --reason TEXT``: the operators' stop for every business at once (a
provider incident, a bad template across tenants), through each business's own kill switch.
``--lift`` resumes the businesses an emergency stop paused (any run of it: ``--tenant`` narrows
it); a business its own staff paused, before or during the stop, stays paused. Both are audited
on each business and safe to run twice. A business whose change fails is named (FAILED), the
others are still done, and the exit status is 1.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from tenants import killswitch
from tenants.models import AuditEvent, Tenant
from tenants.services import TenantAction, tenant_set_paused

ORIGIN = "emergency_stop"


def paused_by_this_stop(tenant: Tenant) -> bool:
    """Whether the business's current pause is the emergency stop's (its latest pause event).

    Latest by id, not by time: the stop may run on a machine whose clock differs from the web's,
    and the tenant's row lock (tenant_set_paused) writes one business's events in turn."""
    latest = AuditEvent.objects.filter(tenant=tenant, action=TenantAction.TENANT_PAUSED).order_by("-id").first()
    return latest is not None and latest.data.get("origin") == ORIGIN


class Command(BaseCommand):
    help = (
        "Pause sending for every business (each one's kill switch, waiting for hand-offs under way; audited), "
        "or with --lift resume the businesses an emergency stop paused (any run). --tenant limits either to the "
        "named businesses."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--reason", help="Why, in the audit log of each business (required to stop).")
        action.add_argument("--lift", action="store_true", help="Resume the businesses an emergency stop paused.")
        parser.add_argument(
            "--tenant", action="append", default=[], metavar="SLUG", help="Only this business (repeatable)."
        )

    def _tenants(self, slugs: list[str]):
        tenants = Tenant.objects.order_by("slug")
        if slugs:
            unknown = sorted(set(slugs) - set(tenants.filter(slug__in=slugs).values_list("slug", flat=True)))
            if unknown:
                raise CommandError(f"no business with the slug(s): {', '.join(unknown)}", returncode=2)
            tenants = tenants.filter(slug__in=slugs)
        return list(tenants)

    def handle(self, *args, reason: str | None, lift: bool, tenant: list[str], **options):
        if not lift and not (reason or "").strip():
            raise CommandError("--reason must say why (it is written to each business's audit log)", returncode=2)
        tenants = self._tenants(tenant)
        changed, failed = 0, []
        for one in tenants:
            try:
                done = self._lift(one) if lift else self._stop(one, reason.strip())
            except DatabaseError as error:
                # One business's failure must not leave the ones after it as they were: go on, say so.
                self.stdout.write(f"FAILED         {one.slug}: {error}".rstrip())
                failed.append(one.slug)
                continue
            changed += done
        verb = "resumed" if lift else "paused"
        self.stdout.write(f"{changed} of {len(tenants)} business(es) {verb}.")
        if failed:
            raise CommandError(f"{len(failed)} business(es) not {verb}: {', '.join(failed)} (run it again)")

    def _stop(self, one: Tenant, reason: str) -> bool:
        with transaction.atomic():
            locked = _locked(one, pausing=True)
            if locked.is_paused:
                self.stdout.write(f"already paused {one.slug}")
                return False
            tenant_set_paused(tenant=locked, actor=None, paused=True, reason=reason, origin=ORIGIN)
        self.stdout.write(f"paused         {one.slug}")
        return True

    def _lift(self, one: Tenant) -> bool:
        with transaction.atomic():
            locked = _locked(one, pausing=False)
            if not locked.is_paused:
                self.stdout.write(f"running        {one.slug}")
                return False
            if not paused_by_this_stop(locked):
                self.stdout.write(f"left paused    {one.slug} (paused by its own staff, not by the stop)")
                return False
            lifted = "emergency stop lifted"
            tenant_set_paused(tenant=locked, actor=None, paused=False, reason=lifted, origin=ORIGIN)
        self.stdout.write(f"resumed        {one.slug}")
        return True


def _locked(tenant: Tenant, *, pausing: bool) -> Tenant:
    """The business as it is now, held until the change commits: listed at the start, it may have
    been paused or resumed by its staff since, and must not be between the look and the change.
    The locks in tenant_set_paused's order (the hand-offs' lock first, when pausing)."""
    if pausing:
        killswitch.hold_for_pause(tenant.pk)
    return Tenant.objects.select_for_update().get(pk=tenant.pk)
