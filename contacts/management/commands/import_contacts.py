import sys
import time
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from contacts import imports, services
from contacts.models import ConsentKind, ConsentMode, ContactImport
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV/TSV file into a tenant: the same upload, dry run and commit as the "
        "import page. Consent comes from --consent-* (one declaration for the file) or from columns "
        "(--consent-column)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--dry-run", action="store_true", help="Preview only: print what would happen.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=FIELD",
            help="Override the automatic mapping of one column (FIELD empty to skip it). Repeatable.",
        )
        parser.add_argument(
            "--keep", action="append", default=[], metavar="HEADER", help="Keep a column as a custom field."
        )
        parser.add_argument("--tag", action="append", default=[], help="Tag every imported contact.")
        parser.add_argument("--consent-column", action="store_true", help="Consent comes from mapped consent columns.")
        parser.add_argument("--consent-kind", choices=ConsentKind.values)
        parser.add_argument("--consent-source", default="")
        parser.add_argument("--consent-date", help="When consent was obtained (YYYY-MM-DD or ISO date-time).")
        parser.add_argument("--consent-evidence", default="")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {opts['tenant']!r}.")
        captured_at = None
        if opts["consent_date"]:
            try:
                captured_at = datetime.fromisoformat(opts["consent_date"])
            except ValueError:
                raise CommandError(f"--consent-date {opts['consent_date']!r} is not a date (YYYY-MM-DD).") from None
            if captured_at.tzinfo is None:
                captured_at = captured_at.replace(tzinfo=tenant.zone)
        try:
            contact_import = services.contact_import_upload(
                tenant=tenant, actor=None, source=opts["file"], original_name=opts["file"].rsplit("/", 1)[-1]
            )
        except (ValidationError, OSError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from None
        mapping = dict(contact_import.mapping)
        for item in opts["map"]:
            header, _, field = item.partition("=")
            if header not in contact_import.headers:
                raise CommandError(f"--map {item!r}: the file has no column {header!r}.")
            mapping[header] = field
        self.stderr.write(f"Mapping: {', '.join(f'{h} → {f}' for h, f in mapping.items() if f)}")
        try:
            services.contact_import_configure(
                contact_import=contact_import,
                actor=None,
                mapping=mapping,
                custom_columns=opts["keep"],
                add_tags=opts["tag"],
                consent_mode=ConsentMode.COLUMN if opts["consent_column"] else ConsentMode.DECLARATION,
                consent_kind=opts["consent_kind"] or "",
                consent_source=opts["consent_source"],
                consent_captured_at=captured_at,
                consent_evidence=opts["consent_evidence"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        # The task was enqueued at commit; run the work here too: the lease makes a second run a no-op.
        self._run("Dry run", lambda: services.contact_import_run_preview(import_id=contact_import.pk), contact_import)
        self._report(contact_import, contact_import.preview_counts, "Preview")
        if contact_import.status != ContactImport.Status.PREVIEWED or opts["dry_run"]:
            if contact_import.status == ContactImport.Status.FAILED:
                raise CommandError(contact_import.error)
            return
        services.contact_import_commit(contact_import=contact_import, actor=None)
        self._run("Import", lambda: services.contact_import_run_commit(import_id=contact_import.pk), contact_import)
        if contact_import.status != ContactImport.Status.COMMITTED:
            raise CommandError(contact_import.error or f"Import ended {contact_import.status}.")
        self._report(contact_import, contact_import.commit_counts, "Imported")
        if contact_import.data_changed:
            self.stdout.write("Note: the data changed between the preview and the import; the counts differ.")

    def _run(self, label, work, contact_import):
        """Do the work here; if a worker already holds the import, wait for it, showing progress."""
        started = time.monotonic()
        work()
        contact_import.refresh_from_db()
        while contact_import.is_running:
            self.stderr.write(f"{label}: {contact_import.rows_done:,} rows…")
            time.sleep(1)
            contact_import.refresh_from_db()
        self.stderr.write(f"{label} took {time.monotonic() - started:.1f}s")

    def _report(self, contact_import, counts, label):
        self.stdout.write(f"{label} (import #{contact_import.pk}, {contact_import.original_name}):")
        for outcome in imports.OUTCOMES:
            self.stdout.write(f"  {outcome:<16} {counts.get(outcome, 0):>9,}")
        outside = contact_import.outside_au or {}
        if outside.get("count"):
            countries = ", ".join(f"{region} {n:,}" for region, n in outside["countries"])
            rows = ", ".join(f"{row} ({region})" for row, region in outside["rows"])
            self.stdout.write(f"  Outside Australia (kept): {outside['count']:,} rows ({countries}); rows {rows}")
        if contact_import.rejected_path:
            self.stdout.write(f"Rejected rows: {imports.media_path(contact_import.rejected_path)}")
        sys.stdout.flush()
