"""Secrets at rest: a model field whose value is encrypted in the database (Fernet).

Keys come from FIELD_ENCRYPTION_KEYS (newest first, so old keys still decrypt while values are
re-saved under the new one); without it a key is derived from SECRET_KEY. A stored value reads
``fernet:<token>``; anything else is a value written before encryption and reads as it is, so
a deploy never strands an existing secret (the migration that adds the field encrypts them).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


def _key_from_secret(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"smscrm-field-encryption:{secret}".encode()).digest())


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret: str) -> MultiFernet:
    raw = [key.encode() for key in keys] or [_key_from_secret(secret)]
    try:
        return MultiFernet([Fernet(key) for key in raw])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a key that is not a Fernet key.") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored or not stored.startswith(PREFIX):
        return stored
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEYS (or SECRET_KEY) changed "
            "without keeping the old key."
        ) from exc


class EncryptedTextField(models.TextField):
    """A text value stored encrypted; Python code only ever sees the plain value."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value is not None else value


def _current(token: str) -> bool:
    """Is this token encrypted under the newest key (the first of FIELD_ENCRYPTION_KEYS)?"""
    keys = settings.FIELD_ENCRYPTION_KEYS
    newest = Fernet(keys[0].encode() if keys else _key_from_secret(settings.SECRET_KEY))
    try:
        newest.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate_stored_secrets(*, dry_run: bool = False) -> dict[str, int]:
    """Re-encrypt every ``EncryptedTextField`` value under the newest key; counts by outcome.

    ``rotated``: was under an older key (or stored before encryption) and is now under the newest;
    ``current``: already under the newest key, left alone, so a second run changes nothing.
    A value no key decrypts raises ImproperlyConfigured before anything is written. Each row
    is rewritten only if it still holds the value read, so a secret saved meanwhile is kept.
    """
    from django.apps import apps
    from django.db import connection, transaction

    counts = {"rotated": 0, "current": 0}
    plans = []
    quote = connection.ops.quote_name
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            table, column, pk = model._meta.db_table, field.column, model._meta.pk.column
            with connection.cursor() as cursor:
                # Raw SQL: the stored text, not what the field would decrypt it to.
                cursor.execute(
                    f"SELECT {quote(pk)}, {quote(column)} FROM {quote(table)} WHERE {quote(column)} <> ''"  # noqa: S608
                )
                rows = cursor.fetchall()
            for row_pk, stored in rows:
                if stored.startswith(PREFIX) and _current(stored[len(PREFIX) :]):
                    counts["current"] += 1
                    continue
                plans.append((table, column, pk, row_pk, stored, encrypt(decrypt(stored))))
    for table, column, pk, row_pk, stored, new in plans:
        if not dry_run:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE {quote(pk)} = %s AND {quote(column)} = %s",  # noqa: S608
                    [new, row_pk, stored],
                )
                if cursor.rowcount != 1:
                    continue  # changed since it was read: saved by then under the newest key
        counts["rotated"] += 1
    return counts


def derived_key() -> str:
    """The key derived from SECRET_KEY (used while FIELD_ENCRYPTION_KEYS is empty), to list last in
    FIELD_ENCRYPTION_KEYS when moving to explicit keys or changing SECRET_KEY."""
    return _key_from_secret(settings.SECRET_KEY).decode()
