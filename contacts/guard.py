"""The do-not-contact list takes effect at once, even for a message about to be handed over.

The dispatcher checks the list when it decides a batch, but hands the batch over afterwards,
paced over seconds. So that no message starts after a number's do-not-contact row commits,
both sides take a PostgreSQL advisory lock keyed by (tenant, number):

- ``dnc_add`` takes it exclusively, inside its transaction, before it writes the row (a bulk
  addition takes one tenant-wide key instead, which every hand-off also holds shared);
- the dispatcher takes it shared for each group of numbers just before the provider call,
  re-reads the list for them, and lets go once the provider has answered.

A hand-off that holds the lock finishes first and the opt-out commits after it; one that
comes later waits for the commit and then sees the row. Only a hand-off to that very number
can delay an opt-out, by one provider call. SQLite (development) has no advisory locks: there
the re-read alone narrows the window to the provider call.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

from contacts.models import DoNotContact


def _key(phone: str) -> int:
    """A signed 32-bit key for a number (collisions only make someone wait a little)."""
    value = zlib.crc32(phone.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def _locks() -> bool:
    return connection.vendor == "postgresql"


def lock_number_exclusively(tenant_id: int, phone: str) -> None:
    """Inside a transaction: wait for hand-offs to this number, and hold new ones until commit."""
    if _locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [tenant_id, _key(phone)])


def lock_tenant_exclusively(tenant_id: int) -> None:
    """Inside a transaction: the same for every number of the tenant at once (bulk additions).

    A single-key lock: PostgreSQL keeps the one-key and two-key spaces apart, so it never
    collides with a number's key.
    """
    if _locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [tenant_id])


@contextmanager
def numbers_held(tenant_id: int, phones: Iterable[str]) -> Iterator[set[str]]:
    """Hold (shared) the given numbers while they are handed over; yields those now on the list."""
    phones = sorted(set(phones))
    keys = sorted({_key(phone) for phone in phones})
    if _locks() and keys:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock_shared(%s)", [tenant_id])
            cursor.execute(
                "SELECT count(pg_advisory_lock_shared(%s, k)) FROM unnest(%s::integer[]) AS k", [tenant_id, keys]
            )
    try:
        blocked = set(
            DoNotContact.objects.filter(tenant_id=tenant_id, phone_e164__in=phones).values_list("phone_e164", flat=True)
        )
        yield blocked
    finally:
        if _locks() and keys:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(pg_advisory_unlock_shared(%s, k)) FROM unnest(%s::integer[]) AS k",
                        [tenant_id, keys],
                    )
                    cursor.execute("SELECT pg_advisory_unlock_shared(%s)", [tenant_id])
            except DatabaseError:
                # The transaction broke mid hand-off and cannot run the unlock: drop the
                # connection, and its session locks with it, rather than hold opt-outs back.
                connection.close()


def hold_numbers(tenant_id: int, phones: list[str]) -> set[str]:
    """Hold the numbers (shared, once per entry) and the tenant's key (once); returns those on the list now.

    For hand-offs with many calls in flight (messaging.handoff). Session locks, as a call in
    flight outlives the chunk that started it: each number is let go (``let_go``) when its own
    call has answered, and the tenant's key (``let_go_tenant``, once per call of this) as soon
    as the chunk's calls have all started. A bulk addition waits for that, not for every answer:
    a worker that always has calls in flight still lets go of the tenant's key between chunks,
    so a bulk addition waiting for it is never starved, and no call starts after it commits.
    """
    if not phones:
        return set()
    try:
        if _locks():
            keys = sorted(_key(phone) for phone in phones)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock_shared(%s)", [tenant_id])
                cursor.execute(
                    "SELECT count(pg_advisory_lock_shared(%s, k)) FROM unnest(%s::integer[]) AS k", [tenant_id, keys]
                )
        return set(
            DoNotContact.objects.filter(tenant_id=tenant_id, phone_e164__in=set(phones)).values_list(
                "phone_e164", flat=True
            )
        )
    except BaseException:
        # Part taken, part not: drop the session (and every lock in it) rather than leave a
        # hold behind that would keep opt-outs waiting.
        connection.close()
        raise


def _unlock(statement: str, params: list) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
    except DatabaseError:
        # As in numbers_held: drop the connection, and its session locks, rather than hold
        # opt-outs back; and say so, for calls may be waiting on the holds that just went.
        connection.close()
        raise


def let_go(tenant_id: int, phones: list[str]) -> None:
    """Release what ``hold_numbers`` took for these numbers."""
    if phones and _locks():
        _unlock(
            "SELECT count(pg_advisory_unlock_shared(%s, k)) FROM unnest(%s::integer[]) AS k",
            [tenant_id, [_key(phone) for phone in phones]],
        )


def let_go_tenant(tenant_id: int, times: int) -> None:
    """Release the tenant's key, taken once by each of ``times`` calls of ``hold_numbers``."""
    if times and _locks():
        _unlock("SELECT count(pg_advisory_unlock_shared(%s)) FROM generate_series(1, %s)", [tenant_id, times])
