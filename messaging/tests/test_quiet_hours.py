"""Quiet hours: 09:00-21:00 (or a tenant's narrower window) in EVERY candidate zone of a recipient.

Expected instants are written out in UTC from the zones' known offsets, not computed with the
code under test.
"""

import datetime as dt
import random
import zoneinfo

import pytest

from contacts.timezones import recipient_zones
from messaging import quiet_hours
from messaging.quiet_hours import compute_next_allowed_at, next_allowed_at

UTC = dt.UTC
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
SYDNEY, ADELAIDE, LORD_HOWE, PERTH = "Australia/Sydney", "Australia/Adelaide", "Australia/Lord_Howe", "Australia/Perth"

# UTC offset in hours: (15 June 2026, standard time; 15 December 2026, daylight saving).
AU_OFFSETS = {
    "Australia/Sydney": (10, 11),
    "Australia/Melbourne": (10, 11),
    "Australia/Hobart": (10, 11),
    "Australia/Canberra": (10, 11),
    "Australia/Brisbane": (10, 10),
    "Australia/Adelaide": (9.5, 10.5),
    "Australia/Broken_Hill": (9.5, 10.5),
    "Australia/Darwin": (9.5, 9.5),
    "Australia/Perth": (8, 8),
    "Australia/Eucla": (8.75, 8.75),
    "Australia/Lord_Howe": (10.5, 11),
}


@pytest.fixture(autouse=True)
def empty_cache():
    quiet_hours.clear_cache()
    yield
    quiet_hours.clear_cache()


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def both(now, zones, **window):
    """next_allowed_at, checked against the uncached computation and a cold cache."""
    got = next_allowed_at(now, zones, **window)
    assert got == compute_next_allowed_at(now, zones, **window)
    assert got == next_allowed_at(now, zones, **window)  # answered from the cache the same
    return got


# --- every Australian zone at the edges of the window ----------------------------------------


@pytest.mark.parametrize("zone", sorted(AU_OFFSETS))
@pytest.mark.parametrize("season", [0, 1], ids=["winter", "summer"])
def test_window_edges_in_every_australian_zone(zone, season):
    day = dt.date(2026, 6, 15) if season == 0 else dt.date(2026, 12, 15)
    offset = dt.timedelta(hours=AU_OFFSETS[zone][season])

    def local(hour, minute=0, days=0):
        return dt.datetime.combine(day + dt.timedelta(days=days), dt.time(hour, minute), UTC) - offset

    assert both(local(8, 59), [zone]) == local(9, 0)
    assert both(local(8, 59) + dt.timedelta(seconds=59, microseconds=999999), [zone]) == local(9, 0)
    assert both(local(9, 0), [zone]) == local(9, 0)
    assert both(local(20, 59), [zone]) == local(20, 59)
    assert both(local(21, 0) - dt.timedelta(microseconds=1), [zone]) == local(21, 0) - dt.timedelta(microseconds=1)
    assert both(local(21, 0), [zone]) == local(9, 0, days=1)
    assert both(local(23, 59), [zone]) == local(9, 0, days=1)
    assert both(local(0, 0), [zone]) == local(9, 0)


def test_allowed_now_returns_now_itself():
    now = utc(2026, 6, 15, 2, 0)
    assert next_allowed_at(now, [SYDNEY]) is now


def test_result_is_utc():
    assert next_allowed_at(utc(2026, 6, 15, 12, 0), [SYDNEY]).tzinfo is UTC


def test_now_in_another_zone_is_the_same_instant():
    now = dt.datetime(2026, 6, 15, 8, 0, tzinfo=zoneinfo.ZoneInfo(SYDNEY))
    assert next_allowed_at(now, [SYDNEY]) == utc(2026, 6, 14, 23, 0)


# --- daylight saving: 2026 ends 5 April (03:00 -> 02:00), starts 4 October (02:00 -> 03:00) ---


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # Sydney: AEDT +11 until 16:00 UTC Sat 4 April, AEST +10 after.
        (SYDNEY, utc(2026, 4, 4, 11, 0), utc(2026, 4, 4, 23, 0)),  # 22:00 AEDT Sat -> 09:00 AEST Sun
        (SYDNEY, utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 23, 0)),  # 02:30 AEDT (first pass)
        (SYDNEY, utc(2026, 4, 4, 16, 30), utc(2026, 4, 4, 23, 0)),  # 02:30 AEST (second pass)
        (SYDNEY, utc(2026, 4, 4, 22, 59), utc(2026, 4, 4, 23, 0)),  # 08:59 AEST Sun
        (SYDNEY, utc(2026, 4, 5, 10, 59), utc(2026, 4, 5, 10, 59)),  # 20:59 AEST Sun
        (SYDNEY, utc(2026, 4, 5, 11, 0), utc(2026, 4, 5, 23, 0)),  # 21:00 AEST Sun
        # Adelaide: ACDT +10:30 until 16:30 UTC Sat 4 April, ACST +9:30 after.
        (ADELAIDE, utc(2026, 4, 4, 11, 30), utc(2026, 4, 4, 23, 30)),  # 22:00 ACDT Sat -> 09:00 ACST Sun
        (ADELAIDE, utc(2026, 4, 4, 17, 0), utc(2026, 4, 4, 23, 30)),  # 02:30 ACST (second pass)
        (ADELAIDE, utc(2026, 4, 4, 23, 29), utc(2026, 4, 4, 23, 30)),
        # Lord Howe: +11 until 15:00 UTC Sat 4 April (02:00 -> 01:30), +10:30 after.
        (LORD_HOWE, utc(2026, 4, 4, 10, 0), utc(2026, 4, 4, 22, 30)),  # 21:00 +11 Sat -> 09:00 +10:30 Sun
        (LORD_HOWE, utc(2026, 4, 4, 9, 59), utc(2026, 4, 4, 9, 59)),  # 20:59 Sat
        (LORD_HOWE, utc(2026, 4, 4, 15, 15), utc(2026, 4, 4, 22, 30)),  # 01:45 +10:30 (second pass)
        (LORD_HOWE, utc(2026, 4, 5, 10, 29), utc(2026, 4, 5, 10, 29)),  # 20:59 +10:30 Sun
        (LORD_HOWE, utc(2026, 4, 5, 10, 30), utc(2026, 4, 5, 22, 30)),
        # Sydney: AEST +10 until 16:00 UTC Sat 3 October, AEDT +11 after.
        (SYDNEY, utc(2026, 10, 3, 12, 0), utc(2026, 10, 3, 22, 0)),  # 22:00 AEST Sat -> 09:00 AEDT Sun
        (SYDNEY, utc(2026, 10, 3, 10, 59), utc(2026, 10, 3, 10, 59)),  # 20:59 AEST Sat
        (SYDNEY, utc(2026, 10, 3, 11, 0), utc(2026, 10, 3, 22, 0)),  # 21:00 AEST Sat
        (SYDNEY, utc(2026, 10, 3, 16, 0), utc(2026, 10, 3, 22, 0)),  # 03:00 AEDT, just after the gap
        (SYDNEY, utc(2026, 10, 4, 9, 59), utc(2026, 10, 4, 9, 59)),  # 20:59 AEDT Sun
        (SYDNEY, utc(2026, 10, 4, 10, 0), utc(2026, 10, 4, 22, 0)),  # 21:00 AEDT Sun
        # Adelaide: ACST +9:30 until 16:30 UTC Sat 3 October, ACDT +10:30 after.
        (ADELAIDE, utc(2026, 10, 3, 12, 30), utc(2026, 10, 3, 22, 30)),  # 22:00 ACST Sat -> 09:00 ACDT Sun
        (ADELAIDE, utc(2026, 10, 3, 11, 29), utc(2026, 10, 3, 11, 29)),  # 20:59 ACST Sat
        # Lord Howe: +10:30 until 15:30 UTC Sat 3 October (02:00 -> 02:30), +11 after.
        (LORD_HOWE, utc(2026, 10, 3, 11, 30), utc(2026, 10, 3, 22, 0)),  # 22:00 +10:30 Sat -> 09:00 +11 Sun
        (LORD_HOWE, utc(2026, 10, 3, 10, 29), utc(2026, 10, 3, 10, 29)),  # 20:59 +10:30 Sat
        (LORD_HOWE, utc(2026, 10, 3, 10, 30), utc(2026, 10, 3, 22, 0)),  # 21:00 +10:30 Sat
    ],
)
def test_next_allowed_across_daylight_saving_changes(zone, now, expected):
    assert both(now, [zone]) == expected


def test_21_aedt_on_the_last_saturday_of_daylight_saving_is_closed():
    # 10:00 UTC Sat 4 April 2026 is 21:00 AEDT: closed; 20:59 AEDT is open.
    assert both(utc(2026, 4, 4, 10, 0), [SYDNEY]) == utc(2026, 4, 4, 23, 0)
    assert both(utc(2026, 4, 4, 9, 59), [SYDNEY]) == utc(2026, 4, 4, 9, 59)


@pytest.mark.parametrize(
    ("zone", "now", "window", "expected"),
    [
        # A window opening at 02:00 on the night clocks skip 02:00-02:59 (Sydney) or 02:00-02:29
        # (Lord Howe): it opens at the first instant after the gap.
        (SYDNEY, utc(2026, 10, 3, 14, 0), (2, 21), utc(2026, 10, 3, 16, 0)),  # 00:00 AEST -> 03:00 AEDT
        (LORD_HOWE, utc(2026, 10, 3, 14, 30), (2, 21), utc(2026, 10, 3, 15, 30)),  # 01:00 -> 02:30 +11
        # A window closing at 03:00 on the night 02:00-02:59 happens twice: open through both.
        (SYDNEY, utc(2026, 4, 4, 15, 59), (2, 3), utc(2026, 4, 4, 15, 59)),  # 02:59 AEDT
        (SYDNEY, utc(2026, 4, 4, 16, 0), (2, 3), utc(2026, 4, 4, 16, 0)),  # 02:00 AEST
        (SYDNEY, utc(2026, 4, 4, 17, 0), (2, 3), utc(2026, 4, 5, 16, 0)),  # 03:00 AEST -> 02:00 Mon
        (SYDNEY, utc(2026, 4, 4, 14, 30), (3, 21), utc(2026, 4, 4, 17, 0)),  # 01:30 AEDT -> 03:00 AEST
        # A window closing at 03:00 on the night 02:00-02:59 is skipped closes at the change.
        (SYDNEY, utc(2026, 10, 3, 15, 30), (1, 3), utc(2026, 10, 3, 15, 30)),  # 01:30 AEST
        (SYDNEY, utc(2026, 10, 3, 16, 0), (1, 3), utc(2026, 10, 4, 14, 0)),  # 03:00 AEDT -> 01:00 Mon
        (LORD_HOWE, utc(2026, 10, 3, 15, 30), (1, 3), utc(2026, 10, 3, 15, 30)),  # 02:30 +11
        (LORD_HOWE, utc(2026, 10, 3, 16, 0), (1, 3), utc(2026, 10, 4, 14, 0)),  # 03:00 +11 -> 01:00 Mon
        # Opening at 02:00 on the night it repeats: the first 02:00.
        (SYDNEY, utc(2026, 4, 4, 14, 30), (2, 21), utc(2026, 4, 4, 15, 0)),
        # Lord Howe repeats 01:30-01:59.
        (LORD_HOWE, utc(2026, 4, 4, 14, 59), (1, 2), utc(2026, 4, 4, 14, 59)),  # 01:59 +11
        (LORD_HOWE, utc(2026, 4, 4, 15, 0), (1, 2), utc(2026, 4, 4, 15, 0)),  # 01:30 +10:30
        (LORD_HOWE, utc(2026, 4, 4, 15, 30), (1, 2), utc(2026, 4, 5, 14, 30)),  # 02:00 +10:30 -> 01:00 Mon
    ],
)
def test_windows_across_the_changed_hours_themselves(zone, now, window, expected):
    start, end = window
    assert both(now, [zone], start_hour=start, end_hour=end) == expected


# --- a mobile whose owner could be anywhere in Australia -------------------------------------


def mobile_zones():
    return recipient_zones(timezone="", state="", postcode="", phone_e164="+61412345678", fallback=SYDNEY)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Summer: opens at 09:00 Perth (01:00 UTC, 12:00 AEDT); closes at 21:00 AEDT/LHDT (10:00 UTC).
        (utc(2026, 12, 15, 0, 59), utc(2026, 12, 15, 1, 0)),  # 11:59 AEDT, 08:59 Perth
        (utc(2026, 12, 15, 1, 0), utc(2026, 12, 15, 1, 0)),
        (utc(2026, 12, 15, 9, 59), utc(2026, 12, 15, 9, 59)),  # 20:59 AEDT
        (utc(2026, 12, 15, 10, 0), utc(2026, 12, 16, 1, 0)),  # 21:00 AEDT
        (utc(2026, 12, 14, 22, 0), utc(2026, 12, 15, 1, 0)),  # 09:00 AEDT: open in Sydney, not in Perth
        # Winter: opens at 09:00 Perth (01:00 UTC, 11:00 AEST); closes at 21:00 Lord Howe (+10:30):
        # 10:30 UTC, 20:30 AEST.
        (utc(2026, 6, 15, 0, 59), utc(2026, 6, 15, 1, 0)),
        (utc(2026, 6, 15, 1, 0), utc(2026, 6, 15, 1, 0)),
        (utc(2026, 6, 15, 10, 29), utc(2026, 6, 15, 10, 29)),
        (utc(2026, 6, 15, 10, 30), utc(2026, 6, 16, 1, 0)),
        (utc(2026, 6, 15, 10, 45), utc(2026, 6, 16, 1, 0)),  # 20:45 AEST: open in Sydney, closed on Lord Howe
        # Across the October change: Sat 20:00 AEST -> Sun 09:00 Perth.
        (utc(2026, 10, 3, 10, 30), utc(2026, 10, 4, 1, 0)),
        (utc(2026, 10, 4, 9, 59), utc(2026, 10, 4, 9, 59)),  # Sun 20:59 AEDT
        (utc(2026, 10, 4, 10, 0), utc(2026, 10, 5, 1, 0)),
    ],
)
def test_au_mobile_of_unknown_zone_waits_for_every_australian_zone(now, expected):
    assert set(mobile_zones()) >= {SYDNEY, PERTH, LORD_HOWE}
    assert both(now, mobile_zones()) == expected


def test_au_mobile_in_a_narrowed_window():
    # 10:00-20:00 everywhere: opens 10:00 Perth (02:00 UTC), closes 20:00 Lord Howe in winter (09:30 UTC).
    window = {"start_hour": 10, "end_hour": 20}
    assert both(utc(2026, 6, 15, 1, 59), mobile_zones(), **window) == utc(2026, 6, 15, 2, 0)
    assert both(utc(2026, 6, 15, 9, 29), mobile_zones(), **window) == utc(2026, 6, 15, 9, 29)
    assert both(utc(2026, 6, 15, 9, 30), mobile_zones(), **window) == utc(2026, 6, 16, 2, 0)


# --- narrowed tenant windows -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 6, 14, 23, 30), utc(2026, 6, 15, 0, 0)),  # 09:30 AEST -> 10:00
        (utc(2026, 6, 15, 0, 0), utc(2026, 6, 15, 0, 0)),
        (utc(2026, 6, 15, 9, 59), utc(2026, 6, 15, 9, 59)),  # 19:59
        (utc(2026, 6, 15, 10, 0), utc(2026, 6, 16, 0, 0)),  # 20:00 -> 10:00 tomorrow
        (utc(2026, 6, 15, 10, 30), utc(2026, 6, 16, 0, 0)),  # 20:30: open by the default window, not this one
    ],
)
def test_narrowed_window(now, expected):
    assert both(now, [SYDNEY], start_hour=10, end_hour=20) == expected


def test_default_window_is_the_tenant_models_convention():
    from tenants.models import EARLIEST_SEND_HOUR, LATEST_SEND_HOUR

    assert (quiet_hours.EARLIEST_SEND_HOUR, quiet_hours.LATEST_SEND_HOUR) == (EARLIEST_SEND_HOUR, LATEST_SEND_HOUR)
    assert both(utc(2026, 6, 15, 10, 30), [SYDNEY]) == utc(2026, 6, 15, 10, 30)  # 20:30: open till 21:00


# --- windows that never overlap ---------------------------------------------------------------


def test_windows_that_never_overlap_give_none():
    # A one-hour window in zones two (or three) hours apart.
    assert both(utc(2026, 6, 15, 0, 0), [SYDNEY, PERTH], start_hour=9, end_hour=10) is None
    assert both(utc(2026, 6, 15, 0, 0), mobile_zones(), start_hour=9, end_hour=10) is None
    assert both(utc(2026, 6, 15, 0, 0), sorted(AU_OFFSETS), start_hour=9, end_hour=10) is None
    # Three hours overlap two hours apart.
    assert both(utc(2026, 6, 15, 0, 0), [SYDNEY, PERTH], start_hour=9, end_hour=12) == utc(2026, 6, 15, 1, 0)


def test_one_hour_apart_until_daylight_saving_ends():
    # Sydney and Brisbane: an hour apart in summer, so a one-hour window never overlaps...
    assert both(utc(2026, 1, 10, 0, 0), [SYDNEY, "Australia/Brisbane"], start_hour=9, end_hour=10) is None
    # ...until Sydney's clocks go back on Sunday 5 April 2026: 09:00 in both is 23:00 UTC Sat.
    got = both(utc(2026, 4, 1, 0, 0), [SYDNEY, "Australia/Brisbane"], start_hour=9, end_hour=10)
    assert got == utc(2026, 4, 4, 23, 0)


def test_none_only_beyond_eight_days():
    # Sydney and Brisbane with 09:00-10:00 first overlap at 23:00 UTC 4 April 2026.
    zones = [SYDNEY, "Australia/Brisbane"]
    first = utc(2026, 4, 4, 23, 0)
    assert both(first - dt.timedelta(days=8), zones, start_hour=9, end_hour=10) == first
    assert both(first - dt.timedelta(days=8, seconds=1), zones, start_hour=9, end_hour=10) is None


@pytest.mark.parametrize(("start", "end"), [(21, 9), (12, 12)])
def test_an_empty_window_never_opens(start, end):
    assert both(utc(2026, 6, 15, 0, 0), [SYDNEY], start_hour=start, end_hour=end) is None


@pytest.mark.parametrize(("start", "end"), [(-1, 21), (9, 25), (24, 24)])
def test_hours_outside_the_day_are_refused(start, end):
    with pytest.raises(ValueError):
        next_allowed_at(utc(2026, 6, 15, 0, 0), [SYDNEY], start_hour=start, end_hour=end)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        next_allowed_at(dt.datetime(2026, 6, 15, 0, 0), [SYDNEY])


def test_duplicate_zones_count_once():
    now = utc(2026, 6, 14, 22, 0)
    assert both(now, [SYDNEY, SYDNEY, PERTH, SYDNEY]) == both(now, [PERTH]) == utc(2026, 6, 15, 1, 0)


# --- the cache answers exactly what the computation would --------------------------------------


def test_cached_spans_end_exactly_at_the_window_edges():
    zones = (SYDNEY,)
    nine = utc(2026, 6, 14, 23, 0)  # 09:00 AEST
    assert next_allowed_at(nine - H, zones) == nine  # caches [08:00, 09:00] -> 09:00
    assert next_allowed_at(nine - dt.timedelta(microseconds=1), zones) == nine
    assert next_allowed_at(nine, zones) == nine
    assert next_allowed_at(nine + 11 * H, zones) == nine + 11 * H  # caches [20:00, 21:00) open
    last = nine + 12 * H - dt.timedelta(microseconds=1)
    assert next_allowed_at(last, zones) is last
    assert next_allowed_at(nine + 12 * H, zones) == nine + 24 * H
    assert next_allowed_at(nine + 11 * H, zones) == nine + 11 * H
    assert next_allowed_at(nine + 12 * H - M, zones) == nine + 12 * H - M


def test_cached_open_span_stops_at_a_clock_change_that_closes_the_window():
    # Window 01:00-03:00; on 4 October 2026 Sydney goes from 01:59:59 AEST to 03:00 AEDT.
    window = {"start_hour": 1, "end_hour": 3}
    assert next_allowed_at(utc(2026, 10, 3, 15, 0), (SYDNEY,), **window) == utc(2026, 10, 3, 15, 0)  # 01:00
    assert next_allowed_at(utc(2026, 10, 3, 15, 59), (SYDNEY,), **window) == utc(2026, 10, 3, 15, 59)
    assert next_allowed_at(utc(2026, 10, 3, 16, 0), (SYDNEY,), **window) == utc(2026, 10, 4, 14, 0)
    assert next_allowed_at(utc(2026, 10, 3, 16, 30), (SYDNEY,), **window) == utc(2026, 10, 4, 14, 0)


def test_cache_is_keyed_by_window_and_zones():
    now = utc(2026, 6, 15, 9, 30)  # 19:30 AEST, 17:30 Perth
    assert next_allowed_at(now, (SYDNEY,)) == now
    assert next_allowed_at(now, (SYDNEY,), start_hour=10, end_hour=19) == utc(2026, 6, 16, 0, 0)
    assert next_allowed_at(now, (SYDNEY, PERTH), start_hour=10, end_hour=19) == utc(2026, 6, 16, 2, 0)
    assert next_allowed_at(now, [SYDNEY]) == now


def brute_force(now, zones, start, end):
    """The first instant from ``now`` on, on the 15-minute UTC grid every Australian offset,
    window edge and clock change falls on, that is open in every zone; None past 8 days."""
    tzs = [zoneinfo.ZoneInfo(name) for name in zones]

    def open_at(t):
        return all(start <= t.astimezone(z).hour < end for z in tzs)

    if open_at(now):
        return now
    grid = dt.timedelta(minutes=15)
    t = dt.datetime.fromtimestamp((now.timestamp() // 900 + 1) * 900, UTC)
    while t <= now + dt.timedelta(days=8):
        if open_at(t):
            return t
        t += grid
    return None


ZONE_SETS = [
    (SYDNEY,),
    (ADELAIDE,),
    (LORD_HOWE,),
    ("Australia/Eucla",),
    (SYDNEY, PERTH),
    (SYDNEY, "Australia/Brisbane"),
    (LORD_HOWE, ADELAIDE, "Australia/Darwin"),
    tuple(sorted(AU_OFFSETS)),
]


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_around_the_2026_clock_changes(seed):
    rng = random.Random(seed)
    windows = [(9, 21), (10, 20), (9, 10), (2, 3), (0, 24), (1, 2), (1, 3), (0, 3), (2, 4), (20, 21), (3, 9)]
    changes = [utc(2026, 4, 4, 16, 0), utc(2026, 10, 3, 16, 0)]
    for _ in range(60):
        zones = rng.choice(ZONE_SETS)
        start, end = rng.choice(windows)
        around = rng.choice(changes)
        now = around + dt.timedelta(seconds=rng.randrange(-3 * 86400, 2 * 86400))
        if rng.random() < 0.3:
            now = now.replace(second=0, microsecond=0, minute=rng.choice([0, 15, 30, 45]))
        expected = brute_force(now, zones, start, end)
        assert compute_next_allowed_at(now, zones, start_hour=start, end_hour=end) == expected, (now, zones)
        # Several nearby calls, answered partly from the cache.
        for step in (0, 1, 59, 900, 3600, -60):
            later = now + dt.timedelta(seconds=step)
            got = next_allowed_at(later, zones, start_hour=start, end_hour=end)
            assert got == brute_force(later, zones, start, end), (later, zones, start, end)
