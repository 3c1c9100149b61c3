"""Provider events unique per signing account, provider ids per tenant (step 3 of 3).

Before, (MessageSid, MessageStatus) and the provider id were unique across the installation, so
another tenant's account could pre-empt our callbacks as "replays" or squat a MessageSid of ours.
Deploy: run this migration, then restart every web process (a process still running the old
code names the old constraint in its ON CONFLICT and answers 500, which the provider retries).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0006_providerevent_account_backfill"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="providerevent", name="provider_event_once"),
        migrations.AddConstraint(
            model_name="providerevent",
            constraint=models.UniqueConstraint(
                fields=("account", "message_sid", "status"), name="provider_event_once_per_account"
            ),
        ),
        migrations.RemoveConstraint(model_name="message", name="message_provider_id_unique"),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("provider_id", ""), _negated=True),
                fields=("tenant", "provider_id"),
                name="message_provider_id_unique_per_tenant",
            ),
        ),
    ]
