"""The kill switch's lock: a pause waits for the hand-off chunks under way, and none starts after it.

Each chunk of hand-offs (campaigns.dispatch) holds this lock shared for its transaction and
reads the tenant's and the campaign's state under it; pausing a tenant or one of its campaigns,
or cancelling a campaign, takes it exclusively before writing. So a pause commits only once the
chunks under way have started their calls, and every chunk after it sees the pause.

A PostgreSQL advisory lock rather than row locks ``FOR SHARE``: lock requests queue, so once a
pause waits, chunks that come later wait behind it. Row share locks let every new reader join
the ones already there, and with several workers overlapping their chunks an UPDATE of the
tenant's row could wait forever (bench/handoff ran into it: a pause waited over eight minutes).

The key is (-1, tenant id) in the two-integer advisory space: tenant ids are positive, so it
never meets the do-not-contact guard's (tenant id, number) keys (contacts.guard). SQLite (the
laptop default) has no advisory locks; there the state read alone decides.
"""

from __future__ import annotations

from django.db import connection

SPACE = -1


def _locks() -> bool:
    return connection.vendor == "postgresql"


def hold_for_hand_off(tenant_id: int) -> None:
    """Inside a chunk's transaction, before reading whether its tenant and campaign still run."""
    if _locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [SPACE, tenant_id])


def hold_for_pause(tenant_id: int) -> None:
    """Inside the transaction of a pause (or a cancel), before it writes."""
    if _locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SPACE, tenant_id])
