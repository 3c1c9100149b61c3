"""manage.py rotate_encryption_keys: every stored secret moves to the newest key, and a second run
changes nothing (docs/runbook.md, "Rotating the encryption keys")."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from campaigns.tests.factories import ProviderAccountFactory
from messaging.models import ProviderAccount
from smscrm import crypto
from webhooks.models import WebhookSubscription

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOKEN = "auth-token-" + "7" * 21


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def subscription(tenant):
    return WebhookSubscription.objects.create(tenant=tenant, url="https://hooks.example.com/in", secret="whsec_abc")


@pytest.mark.django_db
def test_rotation_moves_every_secret_to_the_newest_key_and_a_second_run_changes_nothing(tenant, subscription, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    account = ProviderAccountFactory(tenant=tenant, auth_token=TOKEN)
    subscription.save()  # under OLD
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]

    assert run("--dry-run") == "would re-encrypt 2, already under the newest key 0"
    assert crypto.decrypt(stored("messaging_provideraccount", "auth_token", account.pk)) == TOKEN
    assert not crypto._current(stored("messaging_provideraccount", "auth_token", account.pk).removeprefix("fernet:"))

    assert run() == "re-encrypted 2, already under the newest key 0"
    after_first = (
        stored("messaging_provideraccount", "auth_token", account.pk),
        stored(WebhookSubscription._meta.db_table, "secret", subscription.pk),
    )
    assert run() == "re-encrypted 0, already under the newest key 2"
    after_second = (
        stored("messaging_provideraccount", "auth_token", account.pk),
        stored(WebhookSubscription._meta.db_table, "secret", subscription.pk),
    )
    assert after_second == after_first  # the second run wrote nothing

    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key retired: everything still reads
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == TOKEN
    assert WebhookSubscription.objects.get(pk=subscription.pk).secret == "whsec_abc"


@pytest.mark.django_db
def test_moving_from_the_secret_key_derived_key_to_explicit_keys(tenant, settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    account = ProviderAccountFactory(tenant=tenant, auth_token=TOKEN)
    derived = run("--print-derived-key")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, derived]  # the derived key listed last while moving
    assert run() == "re-encrypted 1, already under the newest key 0"
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == TOKEN


@pytest.mark.django_db
def test_a_value_no_key_reads_stops_the_run_before_anything_is_written(tenant, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    readable = ProviderAccountFactory(tenant=tenant, auth_token=TOKEN)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    stray = ProviderAccountFactory(tenant=tenant, auth_token="a-token-under-a-key-now-lost")
    before = {pk: stored("messaging_provideraccount", "auth_token", pk) for pk in (readable.pk, stray.pk)}
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # the stray's key is not listed
    with pytest.raises(CommandError, match="Nothing was changed"):
        run()
    assert {pk: stored("messaging_provideraccount", "auth_token", pk) for pk in before} == before
