"""Quiet hours: the next instant a message may go, in every zone its recipient may be in.

Sending is allowed at an instant when, in each candidate zone, the local time is within
[start_hour:00, end_hour:00). Local midnights and 09:00s are converted with zoneinfo, so
daylight-saving changes move the instants as the clocks do.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

from tenants.models import EARLIEST_SEND_HOUR, LATEST_SEND_HOUR

SEARCH_DAYS = 8


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _local_instant(day: dt.date, hour: int, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``hour``:00 on ``day`` in ``zone`` as UTC (a wall time in a DST gap moves forward)."""
    naive = dt.datetime.combine(day, dt.time(hour))
    aware = naive.replace(tzinfo=zone)
    # Round-trip through UTC: a nonexistent wall time lands after the gap, an ambiguous one on
    # its first occurrence (fold=0).
    return aware.astimezone(dt.UTC)


def _allowed(at: dt.datetime, zone: zoneinfo.ZoneInfo, start_hour: int, end_hour: int) -> bool:
    local = at.astimezone(zone)
    return start_hour <= local.hour < end_hour


def _next_start(at: dt.datetime, zone: zoneinfo.ZoneInfo, start_hour: int, end_hour: int) -> dt.datetime:
    """The first instant at or after ``at`` inside the window in this zone alone."""
    if _allowed(at, zone, start_hour, end_hour):
        return at
    local = at.astimezone(zone)
    day = local.date() if local.hour < start_hour else local.date() + dt.timedelta(days=1)
    return _local_instant(day, start_hour, zone)


def next_allowed_at(
    now: dt.datetime,
    zones: Sequence[str],
    *,
    start_hour: int = EARLIEST_SEND_HOUR,
    end_hour: int = LATEST_SEND_HOUR,
) -> dt.datetime | None:
    """``now`` if it is inside the window in every zone, else the earliest later instant that
    is; None when no instant in the next SEARCH_DAYS days is (windows that never overlap)."""
    tzs = [_zone(name) for name in dict.fromkeys(zones)]
    at = now
    limit = now + dt.timedelta(days=SEARCH_DAYS)
    while at <= limit:
        moved = False
        for zone in tzs:
            start = _next_start(at, zone, start_hour, end_hour)
            if start != at:
                at, moved = start, True
        if not moved:
            return at
    return None
