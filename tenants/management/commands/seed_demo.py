from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.services import tenant_create, user_get_or_create

DEMO_SLUG = "demo"
DEMO_OWNER = "demo@example.com"


class Command(BaseCommand):
    help = "Create the demo tenant and its owner demo@example.com. Safe to run again."

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(
                name="Demo Coffee Co",
                slug=DEMO_SLUG,
                business_name="Demo Coffee Co",
                owner_email=DEMO_OWNER,
                timezone="Australia/Sydney",
            )
            self.stdout.write(f"Created tenant {tenant.name} ({tenant.slug}) owned by {DEMO_OWNER}.")
        else:
            self.stdout.write(f"Tenant {tenant.name} ({tenant.slug}) already exists.")
        owner = user_get_or_create(email=DEMO_OWNER)
        if not owner.is_staff:
            # The demo owner may open the (tenant-scoped) Django admin too.
            owner.is_staff = True
            owner.save(update_fields=["is_staff"])
