"""Provider events name the account that signed them (step 1 of 3: the column, empty)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_inbox_and_campaign_response_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="providerevent",
            name="account",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="messaging.provideraccount",
            ),
        ),
    ]
