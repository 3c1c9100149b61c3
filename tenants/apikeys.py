"""API keys: create, revoke, and find the key a request presents.

Written here rather than taken from djangorestframework-api-key: that package keeps
``prefix.hash`` as the primary key (so a page or URL naming a key shows its hash), needs its own
app installed with a table we would not use, and records revocation as a flag without who or
when. Ours is a plain row with a numeric id, a public prefix, the SHA-256 of the key, and the
who/when of creation, use and revocation, audited.

A key reads ``smk_<prefix>_<secret>``: the prefix finds the row by its unique index, the hash
of the whole key is compared in constant time. Keys are 40 random URL-safe characters after the
prefix (~238 bits), so a fast hash is the right one (a password hasher would cost every request
tens of milliseconds and buy nothing).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from tenants.models import ApiKey, Tenant
from tenants.services import TenantAction, acting_user, audit_record

KEY_START = "smk_"
PREFIX_LENGTH = 10
SECRET_BYTES = 30
# last_used_at is written at most this often per key (one UPDATE, not one per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return prefix, f"{KEY_START}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def api_key_create(
    *, tenant: Tenant, name: str, role: str, actor=None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Make a key for ``tenant`` in ``role`` (viewer, staff or admin); return it and the key
    itself, which is never stored and cannot be shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name that says what uses it."})
    if role not in {value for value, _ in ApiKey.ROLES}:
        raise ValidationError({"role": f"{role!r} is not a role a key may have (viewer, staff or admin)."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry is in the past."})
    prefix, key = _new_key()
    api_key = ApiKey(
        tenant=tenant,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=_hash(key),
        created_by=acting_user(actor),
        expires_at=expires_at,
    )
    api_key.full_clean()
    with transaction.atomic():
        api_key.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action=TenantAction.API_KEY_CREATED,
            target=name,
            data={"prefix": prefix, "role": role, "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey, actor=None) -> ApiKey:
    """Revoke ``api_key`` for good: the next request with it answers 401. Twice is once."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.revoked_by = acting_user(actor)
            locked.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(
                tenant=locked.tenant,
                actor=actor,
                action=TenantAction.API_KEY_REVOKED,
                target=locked.name,
                data={"prefix": locked.prefix},
            )
    return locked


def api_key_find(key: str) -> ApiKey | None:
    """The usable key matching ``key``, or None (unknown, malformed, revoked or expired alike)."""
    if not key.startswith(KEY_START) or len(key) > 200:
        return None
    prefix, _, secret = key[len(KEY_START) :].partition("_")
    if len(prefix) != PREFIX_LENGTH or not secret:
        return None
    api_key = ApiKey.objects.select_related("tenant", "created_by").filter(prefix=prefix).first()
    if api_key is None or not constant_time_compare(api_key.key_hash, _hash(key)):
        return None
    now = timezone.now()
    if not api_key.is_usable(now):
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
