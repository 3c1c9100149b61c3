"""Opt-out lines saved before the model required an instruction are set to the default, audited.

A tenant whose line said "Thanks!" sent campaign messages with no way to opt out (Spam Act s18).
The renderer now falls back to the default as well; this makes the stored setting say what is sent.
"""

from django.db import migrations

from tenants.optout import DEFAULT_OPT_OUT_LINE, has_opt_out_instruction


def repair(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    AuditEvent = apps.get_model("tenants", "AuditEvent")
    for tenant in Tenant.objects.exclude(opt_out_line=DEFAULT_OPT_OUT_LINE).only("id", "name", "opt_out_line"):
        if has_opt_out_instruction(tenant.opt_out_line):
            continue
        before = tenant.opt_out_line
        Tenant.objects.filter(pk=tenant.pk).update(opt_out_line=DEFAULT_OPT_OUT_LINE)
        AuditEvent.objects.create(
            tenant_id=tenant.pk,
            action="tenant.settings_changed",
            target=tenant.name[:200],
            data={
                "opt_out_line": {"from": before, "to": DEFAULT_OPT_OUT_LINE},
                "why": "The line had no opt-out instruction (Spam Act s18); set by an upgrade.",
            },
        )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0007_invitations_and_last_used")]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
