"""``manage.py api_key create|list|revoke``: API keys for operators and tests.

``create`` prints the new key alone on its last line (``KEY=$(manage.py api_key create … | tail -1)``).
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenants.apikeys import api_key_create, api_key_revoke
from tenants.models import ApiKey, Tenant


class Command(BaseCommand):
    help = "Create, list or revoke a tenant's API keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="Make a key; prints it alone on the last line.")
        create.add_argument("--tenant", required=True, help="The tenant's slug.")
        create.add_argument("--role", required=True, choices=[value for value, _ in ApiKey.ROLES])
        create.add_argument("--name", required=True, help="What uses the key.")
        create.add_argument("--expires-in-days", type=int, default=None)
        listing = sub.add_parser("list", help="The tenant's keys (never the keys themselves).")
        listing.add_argument("--tenant", required=True)
        revoke = sub.add_parser("revoke", help="Revoke the key whose prefix is given.")
        revoke.add_argument("--tenant", required=True)
        revoke.add_argument("--prefix", required=True, help="The part after smk_ and before the next _.")

    def handle(self, *args, verb, tenant, **options):
        try:
            tenant_obj = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant with the slug {tenant!r}.") from None
        getattr(self, f"_{verb}")(tenant_obj, **options)

    def _create(self, tenant, *, role, name, expires_in_days, **_):
        expires_at: datetime | None = None
        if expires_in_days is not None:
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        try:
            api_key, key = api_key_create(tenant=tenant, name=name, role=role, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Created {role} key “{api_key.name}” for {tenant.slug}. It is shown once:")
        self.stdout.write(key)

    def _list(self, tenant, **_):
        now = timezone.now()
        for api_key in ApiKey.objects.filter(tenant=tenant):
            state = "usable" if api_key.is_usable(now) else ("revoked" if api_key.revoked_at else "expired")
            self.stdout.write(f"smk_{api_key.prefix}…  {api_key.role:<6}  {state:<7}  {api_key.name}")

    def _revoke(self, tenant, *, prefix, **_):
        api_key = ApiKey.objects.filter(tenant=tenant, prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"{tenant.slug} has no key starting smk_{prefix}.")
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"Revoked “{api_key.name}”.")
