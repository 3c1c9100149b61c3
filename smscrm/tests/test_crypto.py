"""Secrets at rest (smscrm.crypto): rotating FIELD_ENCRYPTION_KEYS never strands a stored secret."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from campaigns.tests.factories import ProviderAccountFactory
from messaging.models import ProviderAccount
from smscrm import crypto

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOKEN = "auth-token-" + "9" * 21


def stored_token(account) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM messaging_provideraccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def readable_with(keys: list[str], stored: str) -> bool:
    try:
        plain = crypto._fernet(tuple(keys), "unused").decrypt(stored.removeprefix(crypto.PREFIX).encode())
    except InvalidToken:
        return False
    return plain == TOKEN.encode()


@pytest.mark.django_db
def test_a_new_key_first_reads_old_values_and_a_resave_moves_them_to_it(tenant, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    account = ProviderAccountFactory(tenant=tenant, auth_token=TOKEN)
    under_old = stored_token(account)
    assert under_old.startswith("fernet:") and TOKEN not in under_old
    assert readable_with([OLD], under_old) and not readable_with([NEW], under_old)

    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]  # rotation: the new key first, the old one kept
    account = ProviderAccount.objects.get(pk=account.pk)
    assert account.auth_token == TOKEN  # still read, through the old key
    account.save()  # re-saved: encrypted under the newest key
    under_new = stored_token(account)
    assert under_new != under_old and readable_with([NEW], under_new) and not readable_with([OLD], under_new)

    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key retired once every value was re-saved
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == TOKEN


@pytest.mark.django_db
def test_dropping_the_old_key_too_early_says_so_instead_of_reading_garbage(tenant, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    account = ProviderAccountFactory(tenant=tenant, auth_token=TOKEN)
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(ImproperlyConfigured, match="without keeping the old key"):
        ProviderAccount.objects.get(pk=account.pk)


def test_without_keys_the_key_comes_from_secret_key_and_plain_legacy_values_read_as_they_are(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "one-secret"
    sealed = crypto.encrypt(TOKEN)
    assert crypto.decrypt(sealed) == TOKEN
    assert crypto.encrypt(sealed) == sealed  # never encrypted twice
    assert crypto.decrypt("written-before-encryption") == "written-before-encryption"
    settings.SECRET_KEY = "another-secret"
    with pytest.raises(ImproperlyConfigured):
        crypto.decrypt(sealed)


def test_a_key_that_is_not_a_fernet_key_is_a_configuration_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        crypto.encrypt(TOKEN)
