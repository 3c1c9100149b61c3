"""Rows the benchmarks load the fast way, shared so each bench does not keep its own copy."""

from __future__ import annotations

import json
from collections.abc import Mapping


def daytime_zone() -> str:
    """A zone where it is daytime now: a bench's contacts live there, so quiet hours hold nothing."""
    from datetime import UTC, datetime

    from messaging.quiet_hours import daytime_zone as zone_at

    return zone_at(datetime.now(UTC))


def copy_contacts(tenant_id: int, zone: str, groups: Mapping[str, int] | int) -> int:
    """COPY consenting contacts into the tenant: ``groups`` is a count, or tag → count.

    Numbers are distinct Australian mobiles (+61412000000 on) within the call; returns how many.
    """
    from django.db import connection
    from django.utils import timezone

    groups = {"": groups} if isinstance(groups, int) else groups
    now = timezone.now()
    columns = (
        "tenant_id, phone_e164, first_name, last_name, email, timezone, state, postcode, custom_fields, tags,"
        " consent_status, consent_at, undeliverable, undeliverable_reason, created_at, updated_at,"
        " search_name, search_surname, search_email"  # what Contact.save() would store: the list's search finds them
    )
    i = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY contacts_contact ({columns}) FROM STDIN") as copy:  # noqa: S608
        for tag, n in groups.items():
            tags = json.dumps([tag] if tag else [])
            for _ in range(n):
                phone = f"+614{12 + i // 1_000_000}{i % 1_000_000:06d}"
                copy.write_row((tenant_id, phone, f"Pat{i}", "Citizen", "", zone, "", "", "{}", tags,
                                "express", now, False, "", now, now,
                                f"pat{i} citizen", f"citizen pat{i}", ""))  # fmt: skip
                i += 1
    return i
