"""Re-encrypt every secret stored at rest under the newest FIELD_ENCRYPTION_KEYS key (docs/runbook.md)."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from smscrm import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field (provider auth tokens, event webhook secrets) under the first key "
        "of FIELD_ENCRYPTION_KEYS; values already under it are left alone, so running it twice is safe. "
        "Then the older keys can be dropped from FIELD_ENCRYPTION_KEYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; write nothing.")
        parser.add_argument(
            "--print-derived-key",
            action="store_true",
            help="Print the key derived from SECRET_KEY (in use while FIELD_ENCRYPTION_KEYS is empty) and exit.",
        )

    def handle(self, *args, dry_run, print_derived_key, **options):
        if print_derived_key:
            self.stdout.write(crypto.derived_key())
            return
        try:
            counts = crypto.rotate_stored_secrets(dry_run=dry_run)
        except ImproperlyConfigured as exc:
            raise CommandError(f"{exc} Nothing was changed.") from exc
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{verb} {counts['rotated']}, already under the newest key {counts['current']}")
