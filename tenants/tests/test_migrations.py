"""Data migrations of the tenants app, run against rows as they were before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tenants.optout import DEFAULT_OPT_OUT_LINE


@pytest.mark.django_db(transaction=True)
def test_opt_out_lines_without_an_instruction_are_repaired_and_audited():
    executor = MigrationExecutor(connection)
    before, after = [("tenants", "0007_invitations_and_last_used")], [("tenants", "0008_repair_opt_out_lines")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    Tenant = old_apps.get_model("tenants", "Tenant")
    bad = Tenant.objects.create(name="Bad", slug="bad", business_name="Bad", opt_out_line="Thanks!")
    good = Tenant.objects.create(name="Good", slug="good", business_name="Good", opt_out_line="Txt STOP 2 end")
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new_apps = executor.loader.project_state(after).apps
    Tenant = new_apps.get_model("tenants", "Tenant")
    AuditEvent = new_apps.get_model("tenants", "AuditEvent")
    assert Tenant.objects.get(pk=bad.pk).opt_out_line == DEFAULT_OPT_OUT_LINE
    assert Tenant.objects.get(pk=good.pk).opt_out_line == "Txt STOP 2 end"
    event = AuditEvent.objects.get(tenant_id=bad.pk)
    assert event.data["opt_out_line"] == {"from": "Thanks!", "to": DEFAULT_OPT_OUT_LINE}
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest for the tests that follow
