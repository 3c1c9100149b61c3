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


@pytest.mark.django_db(transaction=True)
def test_texts_received_before_conversations_get_their_threads():
    before, after = [("messaging", "0010_conversations")], [("messaging", "0011_conversations_backfill")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Message = old.get_model("messaging", "Message")
    acme = Tenant.objects.create(name="Acme", slug="acme-c", business_name="Acme")
    now = timezone.now()
    rows = [
        ("campaign", "+61485000001", "+61412000001", "Sale!", None),
        ("inbound", "+61412000001", "+61485000001", "Open Sunday?", None),
        ("inbound", "+61412000002", "+61485000001", "Thanks", now),
        ("reply", "+61485000001", "+61412000002", "You are welcome", None),
        ("campaign", "+61485000001", "+61412000003", "Sale!", None),  # never answered: no thread
    ]
    for n, (kind, sender, to, body, read_at) in enumerate(rows):
        message = Message.objects.create(
            tenant_id=acme.pk, kind=kind, from_sender=sender, to_phone=to, body=body, read_at=read_at
        )
        Message.objects.filter(pk=message.pk).update(created_at=now + timezone.timedelta(minutes=n))
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    Conversation, Message = new.get_model("messaging", "Conversation"), new.get_model("messaging", "Message")
    threads = {c.phone_e164: c for c in Conversation.objects.filter(tenant_id=acme.pk)}
    assert sorted(threads) == ["+61412000001", "+61412000002"]
    first, second = threads["+61412000001"], threads["+61412000002"]
    assert (first.unread_count, first.needs_reply, first.last_body, first.last_direction) == (
        1,
        True,
        "Open Sunday?",
        "in",
    )
    assert (second.unread_count, second.needs_reply, second.last_body) == (0, False, "You are welcome")
    assert Message.objects.filter(conversation=first).count() == 2  # the campaign message they answered too
    assert not Message.objects.filter(to_phone="+61412000003", conversation__isnull=False).exists()
    executor.loader.build_graph()
