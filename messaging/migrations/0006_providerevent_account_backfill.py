"""Provider events name the account that signed them (step 2 of 3: events stored before).

Each event gets its tenant's account (one per tenant in practice), 10,000 rows per transaction,
so webhooks arriving meanwhile wait for one small batch at most, never for the whole table (a
single UPDATE held it for about 16 s per million rows). Events of a tenant with no account keep
an empty account: they are history, and no new event is stored without one.
"""

from django.db import migrations, transaction

BATCH = 10_000


def backfill(apps, schema_editor):
    ProviderAccount = apps.get_model("messaging", "ProviderAccount")
    ProviderEvent = apps.get_model("messaging", "ProviderEvent")
    first_account: dict[int, int] = {}
    for account_id, tenant_id in ProviderAccount.objects.order_by("-id").values_list("id", "tenant_id"):
        first_account[tenant_id] = account_id  # the lowest id wins
    for tenant_id, account_id in first_account.items():
        while True:
            with transaction.atomic():
                ids = list(
                    ProviderEvent.objects.filter(tenant_id=tenant_id, account__isnull=True).values_list("id", flat=True)[
                        :BATCH
                    ]
                )
                if not ids:
                    break
                ProviderEvent.objects.filter(id__in=ids).update(account_id=account_id)


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch, above

    dependencies = [("messaging", "0005_providerevent_account")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
