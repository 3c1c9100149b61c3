"""The filters of the API's lists, read from the query string at the edge.

Each parameter is parsed by a small function; a value it cannot read is a 400 naming the
parameter in ``fields`` (never a 500, never a filter silently ignored). An absent or empty
parameter does not filter. Unknown parameters (``cursor``, ``page_size``) are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError

from smscrm.edge import db_id

Parser = Callable[[str], object]
MOMENT_HELP = "Give an ISO 8601 date-time with its offset, e.g. 2026-12-01T09:00:00+11:00 (or a date)."


def read_filters(params: Mapping[str, str], parsers: Mapping[str, Parser]) -> dict[str, object]:
    """``{name: parsed value}`` of the parameters present; every bad one named in one 400."""
    values: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for name, parse in parsers.items():
        raw = params.get(name, "")
        if raw == "":
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return values


def object_id(raw: str) -> int:
    """An object's id: a whole number (another tenant's id simply matches nothing)."""
    value = db_id(raw.strip())
    if value is None:
        raise ValueError("Give an id: a whole number.")
    return value


def one_of(choices: Iterable[str]) -> Parser:
    """A parser accepting only ``choices`` (compared exactly, as stored)."""
    allowed = tuple(choices)

    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"Choose one of: {', '.join(allowed)}.")
        return raw

    return parse


def _datetime(raw: str) -> datetime | None:
    try:
        return parse_datetime(raw)
    except ValueError:  # well formed but impossible (month 13)
        return None


def moment(zone: ZoneInfo) -> Parser:
    """A parser of an ISO 8601 date-time (``2026-12-01T09:00:00+11:00``, ``…Z``). Without an
    offset, or a bare date (its midnight), it is read in ``zone`` (the tenant's, as its pages
    read times). A ``+`` left unencoded in a query string arrives as a space: read as ``+``."""

    def parse(raw: str) -> datetime:
        raw = raw.strip()
        value = _datetime(raw)
        if value is None and " " in raw:
            head, _, offset = raw.rpartition(" ")
            value = _datetime(f"{head}+{offset}")
        if value is None:
            try:
                day = parse_date(raw)
            except ValueError:
                day = None
            if day is None:
                raise ValueError(MOMENT_HELP)
            value = datetime.combine(day, time.min)
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):  # year 1 at +14:00 has no UTC time
            raise ValueError(MOMENT_HELP) from None

    return parse
