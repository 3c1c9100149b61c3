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
