"""Data migrations of the messaging app, run against rows as they were before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tenants.models import Tenant


@pytest.mark.django_db(transaction=True)
def test_events_stored_before_get_their_tenants_account_in_batches(monkeypatch):
    from importlib import import_module

    backfill = import_module("messaging.migrations.0006_providerevent_account_backfill")
    monkeypatch.setattr(backfill, "BATCH", 2)  # several batches from five events
    before, after = (
        [("messaging", "0004_inbox_and_campaign_response_indexes")],
        [("messaging", "0007_keys_per_account_and_tenant")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    # Tenants are as today; accounts and events as they were before (no account column on events).
    old = executor.loader.project_state(before).apps
    Event, Account = old.get_model("messaging", "ProviderEvent"), old.get_model("messaging", "ProviderAccount")
    acme = Tenant.objects.create(name="Acme", slug="acme-m", business_name="Acme")
    bare = Tenant.objects.create(name="Bare", slug="bare-m", business_name="Bare")
    first = Account.objects.create(tenant_id=acme.pk, account_sid="AC1", auth_token="")
    Account.objects.create(tenant_id=acme.pk, account_sid="AC2", auth_token="")
    now = timezone.now()
    for n in range(5):
        Event.objects.create(tenant_id=acme.pk, kind="status", message_sid=f"SM{n}", status="sent", received_at=now)
    Event.objects.create(tenant_id=bare.pk, kind="status", message_sid="SMx", status="sent", received_at=now)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    Event = new.get_model("messaging", "ProviderEvent")
    assert set(Event.objects.filter(tenant_id=acme.pk).values_list("account_id", flat=True)) == {first.pk}
    assert Event.objects.get(tenant_id=bare.pk).account_id is None  # no account: history, left as it was
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
