"""A file's rows in batches, parsed and decided: everything the dry run and the commit share up to the write.

``parsed_batches`` reads and parses rows and marks duplicates by file order; ``decide_batch``
looks the batch's numbers up (existing contacts and the do-not-contact list: one statement per
batch on PostgreSQL, two elsewhere, never one per row) and runs ``decide_row`` on each.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from contacts import csvfiles
from contacts.decisions import Decision, ExistingContact, decide_row
from contacts.models import Contact, ContactImport, DoNotContact, ImportOutcome
from contacts.phones import normalize_phone, phone_digits_key
from contacts.rowvalues import ConsentClaim, RowParser, RowValues

BATCH_ROWS = 5_000
OUTCOMES = tuple(ImportOutcome.values)


@dataclass(slots=True)
class ParsedRow:
    row_number: int
    fields: list[str]
    values: RowValues
    duplicate: bool


@dataclass(slots=True)
class DecidedRow:
    row_number: int
    fields: list[str]
    values: RowValues
    existing: ExistingContact | None
    decision: Decision


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def row_parser(imp: ContactImport, *, now: datetime) -> RowParser:
    # In declaration mode this is every row's consent; in column mode, the defaults for rows
    # whose consent columns leave date, source or evidence empty (its kind is then unused).
    declaration = None
    if imp.consent_captured_at:
        declaration = ConsentClaim(
            kind=imp.consent_kind,
            source=(imp.consent_source or f"import: {imp.original_name}")[:200],
            captured_at=imp.consent_captured_at,
            evidence=imp.consent_evidence,
        )
    return RowParser(
        headers=imp.headers,
        mapping=imp.mapping,
        custom_columns=imp.custom_columns,
        add_tags=imp.add_tags,
        consent_mode=imp.consent_mode,
        declaration=declaration,
        zone=imp.tenant.zone,
        now=now,
    )


def parsed_batches(
    imp: ContactImport, *, skip_rows: int = 0, now: datetime
) -> Iterator[tuple[list[ParsedRow], int, int]]:
    """Yield (rows, last row number, byte offset) per batch, from the row after ``skip_rows``.

    Rows up to ``skip_rows`` (already committed) are read only to remember their numbers, so
    that a later repeat of one of them is still a duplicate after a resume.
    """
    parser = row_parser(imp, now=now)
    phone_column = parser.columns["phone"]
    max_rows = settings.CONTACT_IMPORT_MAX_ROWS
    seen: set[int] = set()
    batch: list[ParsedRow] = []
    row_number = 0
    offset = 0
    with csvfiles.open_rows(
        media_path(imp.file_path),
        encoding=imp.encoding,
        delimiter=imp.delimiter,
        max_columns=settings.CONTACT_IMPORT_MAX_COLUMNS,
    ) as rows:
        for row_number, fields, offset in rows:
            if row_number > max_rows:
                raise csvfiles.CsvFileError(f"The file has more than {max_rows:,} rows; split it into smaller files.")
            if row_number <= skip_rows:
                raw = fields[phone_column] if phone_column < len(fields) else ""
                phone = normalize_phone(raw)
                if phone.error is None:
                    seen.add(phone_digits_key(phone.e164))
                continue
            values = parser.parse(fields)
            duplicate = False
            if values.phone.error is None:
                key = phone_digits_key(values.phone.e164)
                duplicate = key in seen
                seen.add(key)
            batch.append(ParsedRow(row_number, fields, values, duplicate))
            if len(batch) >= BATCH_ROWS:
                yield batch, row_number, offset
                batch = []
    if batch:
        yield batch, row_number, offset


EXISTING_COLUMNS = (
    "id",
    "phone_e164",
    "first_name",
    "last_name",
    "email",
    "timezone",
    "state",
    "postcode",
    "tags",
    "custom_fields",
    "consent_status",
    "consent_at",
)


def _json(value):
    # Django's PostgreSQL backend hands jsonb to raw cursors as text; SQLite stores text.
    return json.loads(value) if isinstance(value, str) else value


def _lookup(tenant_id: int, phones: list[str], *, lock: bool) -> tuple[dict[str, ExistingContact], set[str]]:
    """The existing contacts (locked when ``lock``) and the do-not-contact numbers among ``phones``."""
    if not phones:
        return {}, set()
    if connection.vendor == "postgresql":
        rows, on_dnc = _lookup_postgresql(tenant_id, phones, lock=lock)
    else:
        queryset = Contact.objects.filter(tenant_id=tenant_id, phone_e164__in=phones)
        rows = (queryset.select_for_update() if lock else queryset).values_list(*EXISTING_COLUMNS)
        on_dnc = set(
            DoNotContact.objects.filter(tenant_id=tenant_id, phone_e164__in=phones).values_list("phone_e164", flat=True)
        )
    existing = {}
    for pk, phone, first, last, email, zone, state, postcode, tags, custom, status, consent_at in rows:
        existing[phone] = ExistingContact(
            pk, first, last, email, zone, state, postcode, tuple(_json(tags) or ()), _json(custom) or {}, status,
            consent_at,
        )  # fmt: skip
    return existing, on_dnc


def _lookup_postgresql(tenant_id: int, phones: list[str], *, lock: bool) -> tuple[list[tuple], set[str]]:
    # One statement, one array parameter (not 5,000 placeholders) and, per number, a LATERAL probe
    # of the unique (tenant, phone) index: the plan stays an index look-up even when the tenant
    # is too new for the planner's statistics (a tenant importing its first million contacts).
    # LIMIT 1 keeps the planner from flattening the subquery into a hash join over all of the
    # tenant's contacts.
    # The numbers travel as one bigint array (Django's cursors quote parameters into the SQL
    # text in Python, and 5,000 integers quote far faster than 5,000 strings), and only the
    # numbers found on either side come back.
    columns = ", ".join(f"c.{column}" for column in EXISTING_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM (SELECT EXISTS (SELECT 1 FROM {DoNotContact._meta.db_table} d"
            f"  WHERE d.tenant_id = %s AND d.phone_e164 = p.phone) AS on_dnc, p.phone, {columns}"
            f" FROM (SELECT '+' || n AS phone FROM unnest(%s::bigint[]) AS u(n)) p LEFT JOIN LATERAL ("
            f"  SELECT * FROM {Contact._meta.db_table} c WHERE c.tenant_id = %s AND c.phone_e164 = p.phone"
            f"  LIMIT 1 {'FOR UPDATE' if lock else ''}) c ON true) found WHERE on_dnc OR id IS NOT NULL",
            [tenant_id, [phone_digits_key(phone) for phone in phones], tenant_id],
        )
        found = cursor.fetchall()
    on_dnc = {row[1] for row in found if row[0]}
    return [row[2:] for row in found if row[2] is not None], on_dnc


def decide_batch(tenant_id: int, rows: list[ParsedRow], *, lock: bool = False) -> list[DecidedRow]:
    """Decide every row of a batch by looking up its existing contacts and DNC entries at once
    (one statement on PostgreSQL, two elsewhere); ``lock`` locks the contacts found."""
    # Sorted, so the index probes walk the (tenant, phone) index in order instead of at random.
    phones = sorted({r.values.phone.e164 for r in rows if r.values.phone.error is None and not r.duplicate})
    existing, on_dnc = _lookup(tenant_id, phones, lock=lock)
    decided = []
    for r in rows:
        phone = r.values.phone.e164
        current = existing.get(phone) if phone else None
        decision = decide_row(r.values, existing=current, duplicate=r.duplicate, on_dnc=phone in on_dnc)
        decided.append(DecidedRow(r.row_number, r.fields, r.values, current, decision))
    return decided
