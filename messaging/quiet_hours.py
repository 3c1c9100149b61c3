"""Quiet hours: the next instant a message may go, in every zone its recipient may be in.

Sending is allowed at an instant when, in each candidate zone, the local time is within
[start_hour:00, end_hour:00). Nothing here converts a wall time to UTC through ``fold``: a
candidate instant is computed at the zone's current UTC offset and then checked against the
offset zoneinfo gives for that instant. When the two differ, a clock change lies in between;
it is found by bisection and the search goes on from it. So daylight-saving gaps and repeats
(including Lord Howe's 30-minute shift) move the instants exactly as the clocks do.

Assumption: a zone's UTC offset changes at most once in any 26 hours (true of every zone in
tzdata 2026 from 2024 to 2045, sampled every 6 hours: no two changes within 3 days).

``next_allowed_at`` runs once or twice per message. Its results are cached as facts that do
not depend on when they were computed: "allowed in all zones from ``lo`` until ``hi``" and
"not allowed from ``lo`` until ``hi``, allowed at ``hi``". A call whose ``now`` falls in such
a span is answered from it, so the cache is exact, not an approximation.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

from tenants.models import EARLIEST_SEND_HOUR, LATEST_SEND_HOUR

SEARCH_DAYS = 8
_SEARCH = dt.timedelta(days=SEARCH_DAYS)
_UTC = dt.UTC
_MIDNIGHT = dt.time(0)
_ONE_DAY = dt.timedelta(days=1)
_SECOND = dt.timedelta(seconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)

# (zones, start_hour, end_hour) -> up to _SPANS_PER_KEY spans (lo, hi, allowed), newest first.
_SPANS: dict[tuple[tuple[str, ...], int, int], tuple[tuple[dt.datetime, dt.datetime, bool], ...]] = {}
_SPANS_PER_KEY = 4
_MAX_KEYS = 4096
# Guards against looping forever on zone data that breaks the assumption above: a zone needs
# one or two steps per window start; a search moves at most to each zone's ~9 window starts
# in SEARCH_DAYS days, checking every zone between moves.
_MAX_STEPS = 16
_MAX_MOVES_PER_ZONE = 32


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def clear_cache() -> None:
    _SPANS.clear()


def _first_change(lo: dt.datetime, hi: dt.datetime, zone: zoneinfo.ZoneInfo, offset: dt.timedelta) -> dt.datetime:
    """The first instant in (lo, hi] whose UTC offset in ``zone`` is not ``offset``.

    Requires offset(lo) == ``offset`` != offset(hi). tzdata transitions fall on whole seconds.
    """
    low = (lo - _EPOCH) // _SECOND  # floor: offset(low) == offset, as no change falls inside a second
    high = -((_EPOCH - hi) // _SECOND)  # ceil: offset(high) == offset(hi) likewise
    while high - low > 1:
        mid = (low + high) // 2
        if (_EPOCH + mid * _SECOND).astimezone(zone).utcoffset() == offset:
            low = mid
        else:
            high = mid
    return _EPOCH + high * _SECOND


def _wall(day: dt.date, hour: int, offset: dt.timedelta) -> dt.datetime:
    """``hour``:00 on ``day`` as UTC, at a fixed UTC offset (``hour`` may be 24)."""
    return dt.datetime.combine(day, _MIDNIGHT, _UTC) + dt.timedelta(hours=hour) - offset


def _next_start(at: dt.datetime, zone: zoneinfo.ZoneInfo, start_hour: int, end_hour: int) -> dt.datetime:
    """The first instant at or after ``at`` inside [start_hour, end_hour) local in ``zone`` alone."""
    for _ in range(_MAX_STEPS):
        local = at.astimezone(zone)
        hour = local.hour
        if start_hour <= hour < end_hour:
            return at
        offset = local.utcoffset()
        # With the offset fixed, local time runs on from outside the window to the next start_hour:00.
        candidate = _wall(local.date() if hour < start_hour else local.date() + _ONE_DAY, start_hour, offset)
        if candidate.astimezone(zone).utcoffset() == offset:
            return candidate
        # The clocks change before then: nothing up to the change is allowed; go on from it.
        at = _first_change(at, candidate, zone, offset)
    raise RuntimeError(f"No window start found in {zone.key} after {at.isoformat()}.")


def _window_end(at: dt.datetime, zone: zoneinfo.ZoneInfo, end_hour: int) -> dt.datetime:
    """An instant up to which (exclusive) the window, open in ``zone`` at ``at``, surely stays open."""
    local = at.astimezone(zone)
    offset = local.utcoffset()
    end = _wall(local.date(), end_hour, offset)
    if end.astimezone(zone).utcoffset() == offset:
        return end
    return _first_change(at, end, zone, offset)  # a clock change first: open at least until then


def _check_hours(start_hour: int, end_hour: int) -> None:
    if not (0 <= start_hour <= 23 and 1 <= end_hour <= 24):
        raise ValueError(f"Sending window {start_hour}-{end_hour} is not made of hours of the day.")


def compute_next_allowed_at(
    now: dt.datetime,
    zones: Sequence[str],
    *,
    start_hour: int = EARLIEST_SEND_HOUR,
    end_hour: int = LATEST_SEND_HOUR,
) -> dt.datetime | None:
    """``next_allowed_at`` without the cache."""
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime.")
    _check_hours(start_hour, end_hour)
    if start_hour >= end_hour:
        return None
    tzs = [_zone(name) for name in dict.fromkeys(zones)]
    if not tzs:
        raise ValueError("A recipient has at least one candidate zone.")
    limit = now + _SEARCH
    at = now
    count = len(tzs)
    satisfied = 0  # zones in a row, up to the current one, whose window holds at ``at``
    index = 0
    for _ in range(_MAX_MOVES_PER_ZONE * count * count):
        if satisfied == count:
            return at
        moved = _next_start(at, tzs[index], start_hour, end_hour)
        if moved is at:
            satisfied += 1
        else:
            if moved > limit:
                return None
            at, satisfied = moved, 1
        index = (index + 1) % count
    raise RuntimeError(f"No sending window found in {zones} after {now.isoformat()}.")


def next_allowed_at(
    now: dt.datetime,
    zones: Sequence[str],
    *,
    start_hour: int = EARLIEST_SEND_HOUR,
    end_hour: int = LATEST_SEND_HOUR,
) -> dt.datetime | None:
    """``now`` if it is inside [start_hour:00, end_hour:00) local time in every zone, else the
    earliest later instant (aware UTC) that is; None when no instant in the next SEARCH_DAYS
    days is (windows that never overlap).

    ``now`` must be aware; ``zones`` are IANA names (an invalid one raises, it is not skipped:
    contacts.timezones.recipient_zones only hands out valid ones).
    """
    key = (zones if type(zones) is tuple else tuple(zones), start_hour, end_hour)
    spans = _SPANS.get(key, ())
    for lo, hi, allowed in spans:
        if allowed:
            if lo <= now < hi:
                return now
        elif lo <= now <= hi:
            return hi
    at = compute_next_allowed_at(now, key[0], start_hour=start_hour, end_hour=end_hour)
    if at is None:
        return None
    if at == now:
        hi = min(_window_end(now, _zone(name), end_hour) for name in dict.fromkeys(key[0]))
        span = (now, hi, True)
    else:
        span = (now, at, False)  # nothing in [now, at) is allowed, so any instant in it waits for ``at``
    if len(_SPANS) >= _MAX_KEYS and key not in _SPANS:
        _SPANS.clear()
    _SPANS[key] = (span, *spans[: _SPANS_PER_KEY - 1])
    return at


# Zones tried first when looking for one where it is daytime (Australia's, then a spread).
DAYTIME_CANDIDATES = (
    "Australia/Sydney", "Australia/Adelaide", "Australia/Brisbane", "Australia/Darwin", "Australia/Perth",
    "Pacific/Auckland", "Asia/Tokyo", "Asia/Kolkata", "Asia/Dubai", "Europe/Berlin", "Europe/London",
    "America/Sao_Paulo", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "Pacific/Honolulu",
)  # fmt: skip


def daytime_zone(now: dt.datetime, *, start_hour: int = 10, end_hour: int = 17) -> str:
    """An IANA zone whose local time is now within [start_hour, end_hour): demos and benchmarks
    that must send now put their recipients there, so quiet hours hold nothing."""
    names = list(DAYTIME_CANDIDATES) + sorted(
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "posix/", "right/", "SystemV/"))
    )
    for name in names:
        if start_hour <= now.astimezone(_zone(name)).hour < end_hour:
            return name
    raise ValueError("no zone has daytime now")  # every hour is daytime somewhere
