"""Run by smscrm/tests/test_pgbouncer.py in a process whose DATABASE_URL points at a private
PgBouncer: the app's session-sensitive pieces, through the pool, with another client taking the
server connection each one just used. Prints one JSON object.

    python -m smscrm.tests.pgbouncer_probe export TENANT_ID
    python -m smscrm.tests.pgbouncer_probe holds TENANT_ID PHONE
    python -m smscrm.tests.pgbouncer_probe demo TENANT_SLUG
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys

import django


def _rival():
    """Another client of the same pool. PgBouncer hands out the server connection released last,
    so its transaction takes the one our client has just used."""
    import psycopg

    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)


def export(tenant_id: int) -> dict:
    """The DNC export's query (contacts.views.DncExportView), read while the rival holds the
    server connection its first rows came from."""
    from contacts.models import DoNotContact

    rows = DoNotContact.objects.filter(tenant_id=tenant_id).order_by("pk").values_list("phone_e164").iterator(2)
    seen = [next(rows)]
    with _rival() as rival, rival.transaction():
        rival.execute("SELECT 1")
        seen += list(rows)
    return {"rows": len(seen)}


def holds(tenant_id: int, phone: str) -> dict:
    """The concurrent hand-off's holds (campaigns.dispatch.flights): taken in the chunk's
    transaction, the tenant's key let go there, the number's after the chunk has committed."""
    from django.db import connection, transaction

    from contacts import guard

    with transaction.atomic():
        blocked = guard.hold_numbers(tenant_id, [phone])
        guard.let_go_tenant(tenant_id, 1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            held_by = cursor.fetchone()[0]
    with _rival() as rival, rival.transaction():
        rival.execute("SELECT 1")
        guard.let_go(tenant_id, [phone])  # as _Flight.collect does when the call answers
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            released_by = cursor.fetchone()[0]
    return {"blocked": sorted(blocked), "held_by": held_by, "released_by": released_by}


def demo(slug: str) -> dict:
    """A whole demo campaign: launch, the dispatcher's gates and paced hand-off (the kill
    switch's and the numbers' locks), status callbacks, STOP replies and clicks."""
    import time_machine
    from django.core.management import call_command

    out = io.StringIO()
    # 14:00 in Sydney: every Australian zone is inside its sending window.
    with time_machine.travel(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=True):
        call_command("demo_campaign", tenant=slug, contacts=20, callbacks="inprocess", stdout=out)
    return json.loads(out.getvalue())


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")
    django.setup()
    what, *args = argv
    if what == "export":
        result = export(int(args[0]))
    elif what == "holds":
        result = holds(int(args[0]), args[1])
    else:
        result = demo(args[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
