"""Campaign.updated_at (issue 18: the API lists campaigns changed since a time). Existing rows get
their latest known change: completed, else launched, else created."""

import django.utils.timezone
from django.db import migrations, models
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    Campaign.objects.update(updated_at=Coalesce("completed_at", "launched_at", "created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_gate_tallies"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
