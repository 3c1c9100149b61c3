"""Turning one import row into clean contact values: names, e-mail, zone, state, consent.

Everything here is pure (no database), so the dry run and the commit parse a row the same way.
"""

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache

from contacts.models import AustralianState, ConsentKind
from contacts.phones import NormalizedPhone, normalize_phone

MAX_NAME = 100

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STATE_NAMES = {
    **{s.value.lower(): s.value for s in AustralianState},
    **{s.label.lower(): s.value for s in AustralianState},
    "n.s.w.": "NSW",
    "vic.": "VIC",
    "qld.": "QLD",
    "queensland": "QLD",
    "tas.": "TAS",
    "w.a.": "WA",
    "s.a.": "SA",
    "n.t.": "NT",
    "a.c.t.": "ACT",
}
_YES = {"express", "yes", "y", "true", "1", "opted in", "opt in", "opt-in", "optin", "subscribed", "granted", "x"}
_INFERRED = {"inferred", "implied", "existing customer", "customer"}
_TAG_SPLIT = re.compile(r"[,;|]")
_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")
_DATETIME_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %I:%M %p", "%Y-%m-%d %H:%M:%S %z")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True, slots=True)
class ConsentClaim:
    """Consent evidence a row brings: from consent columns or the file's declaration."""

    kind: str
    source: str
    captured_at: datetime
    evidence: str


@dataclass(slots=True)  # not frozen: a frozen dataclass costs a setattr detour per field, per row
class RowValues:
    """One row's contact values, cleaned. Empty strings mean "the file says nothing"."""

    phone: NormalizedPhone
    raw_phone: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    timezone: str = ""
    state: str = ""
    postcode: str = ""
    tags: tuple[str, ...] = ()
    custom: tuple[tuple[str, str], ...] = ()
    consent: ConsentClaim | None = None
    consent_problem: str = ""
    notes: tuple[str, ...] = ()


def clean_state(value: str) -> str | None:
    """An Australian state code (NSW, VIC, …) from a code or a name; None when unknown."""
    return _STATE_NAMES.get(value.strip().lower())


def clean_postcode(value: str) -> str | None:
    digits = value.strip().removesuffix(".0")
    if digits.isdigit() and len(digits) in (3, 4):
        return digits.zfill(4)  # Excel drops the leading 0 of NT postcodes (0800 → 800)
    return None


def clean_email(value: str) -> str | None:
    value = value.strip()
    return value.lower() if _EMAIL.match(value) and len(value) <= 254 else None


def clean_timezone(value: str) -> str | None:
    value = value.strip()
    return value if value in _zones() else None


def split_tags(value: str) -> list[str]:
    return [tag.strip() for tag in _TAG_SPLIT.split(value) if tag.strip()]


def merge_tags(existing, extra) -> list[str]:
    """Union keeping first-seen order; tags compare case-insensitively."""
    seen: dict[str, str] = {}
    for tag in (*existing, *extra):
        seen.setdefault(tag.lower(), tag[:50])
    return list(seen.values())


def parse_consent_kind(value: str) -> str | None:
    value = value.strip().lower()
    if value in _YES:
        return ConsentKind.EXPRESS
    if value in _INFERRED:
        return ConsentKind.INFERRED
    return None


def parse_when(value: str, *, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """A consent date or date-time as people write them in Australia (day first).

    A bare date means the start of that day in the tenant's zone; a naive time likewise.
    """
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            for fmt in _DATE_FORMATS:
                try:
                    parsed = datetime.combine(datetime.strptime(value, fmt).date(), time())
                    break
                except ValueError:
                    continue
    if parsed is None:
        return None
    if isinstance(parsed, date) and not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


class RowParser:
    """Parses rows of one import with its mapping, custom columns and consent settings.

    ``mapping`` maps header → field; ``headers`` gives the column order. Built once per run so
    that the per-row work is a few list look-ups.
    """

    def __init__(
        self,
        *,
        headers: list[str],
        mapping: dict[str, str],
        custom_columns: list[str],
        add_tags: list[str],
        consent_mode: str,
        declaration: ConsentClaim | None,
        zone: zoneinfo.ZoneInfo,
        now: datetime,
    ):
        index = {header: i for i, header in enumerate(headers)}
        self.columns = {field: index[header] for header, field in mapping.items() if header in index and field}
        self.custom = [(header, index[header]) for header in custom_columns if header in index]
        self.add_tags = list(add_tags)
        self.by_column = consent_mode == "column"
        self.declaration = declaration
        self.zone = zone
        self.now = now
        if "phone" not in self.columns:
            raise ValueError("Choose which column holds the phone number.")
        self.cleaners = {
            "email": clean_email,
            "timezone": clean_timezone,
            "state": clean_state,
            "postcode": clean_postcode,
        }
        labels = {"email": "e-mail", "timezone": "time zone", "state": "state", "postcode": "postcode"}
        self.cleaned_fields = [(field, labels[field]) for field in self.cleaners if field in self.columns]
        # E-mail addresses are all different: caching them would only cost memory.
        self.caches: dict[str, dict] = {field: {} for field in ("timezone", "state", "postcode")}
        self.has_tags = "tags" in self.columns or bool(self.add_tags)
        self.tag_cache: dict[str, tuple[str, ...]] = {}

    def _get(self, fields: list[str], field: str) -> str:
        i = self.columns.get(field)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    def _cached(self, cache: dict, raw: str, compute):
        # Small-domain fields (states, postcodes, tag lists, zones) repeat across a million rows;
        # the cache is bounded so a file of all-distinct values costs memory only up to a limit.
        try:
            return cache[raw]
        except KeyError:
            value = compute(raw)
            if len(cache) < 50_000:
                cache[raw] = value
            return value

    def parse(self, fields: list[str]) -> RowValues:
        """One row's values. Rows are padded to the header's width by ``csvfiles.open_rows``.

        Written for speed (it runs a million times an import): direct indexing, cached cleaning
        of repetitive fields, no per-field function calls for absent columns.
        """
        width = len(fields)
        col = self.columns
        notes: list[str] = []

        def cell(field: str) -> str:
            i = col.get(field)
            return fields[i].strip() if i is not None and i < width else ""

        raw_phone = cell("phone")
        first = cell("first_name") if "first_name" in col else ""
        last = cell("last_name") if "last_name" in col else ""
        if "full_name" in col and not (first or last):
            first, _, last = cell("full_name").partition(" ")
            last = last.strip()
        if len(first) > MAX_NAME or len(last) > MAX_NAME:
            notes.append(f"name cut to {MAX_NAME} characters")
            first, last = first[:MAX_NAME], last[:MAX_NAME]
        cleaned = {}
        for field, label in self.cleaned_fields:
            raw = cell(field)
            if raw:
                cache = self.caches.get(field)
                value = self.cleaners[field](raw) if cache is None else self._cached(cache, raw, self.cleaners[field])
                if value is None:
                    notes.append(f"{label} {raw!r} ignored")
                cleaned[field] = value or ""
        tags = self._cached(self.tag_cache, cell("tags"), self._tags) if self.has_tags else ()
        custom = tuple((h, fields[i].strip()) for h, i in self.custom if i < width and fields[i].strip())
        consent, problem = self._consent(fields)
        return RowValues(
            normalize_phone(raw_phone),
            raw_phone,
            first,
            last,
            cleaned.get("email", ""),
            cleaned.get("timezone", ""),
            cleaned.get("state", ""),
            cleaned.get("postcode", ""),
            tags,
            custom,
            consent,
            problem,
            tuple(notes),
        )

    def _tags(self, raw: str) -> tuple[str, ...]:
        return tuple(merge_tags(split_tags(raw), self.add_tags))

    def _consent(self, fields: list[str]) -> tuple[ConsentClaim | None, str]:
        declared = self.declaration
        if not self.by_column:
            return (declared, "") if declared else (None, "no consent declared for the file")
        raw_kind = self._get(fields, "consent_kind")
        kind = parse_consent_kind(raw_kind)
        if kind is None:
            return None, f"consent column says {raw_kind!r}" if raw_kind else "consent column is empty"
        raw_when = self._get(fields, "consent_date")
        when = parse_when(raw_when, zone=self.zone) if raw_when else (declared.captured_at if declared else None)
        if when is None:
            return None, f"consent date {raw_when!r} is not a date" if raw_when else "no consent date"
        if when > self.now:
            return None, f"consent date {raw_when} is in the future"
        source = self._get(fields, "consent_source") or (declared.source if declared else "")
        evidence = self._get(fields, "consent_evidence") or (declared.evidence if declared else "")
        return ConsentClaim(kind=kind, source=source[:200], captured_at=when, evidence=evidence), ""
