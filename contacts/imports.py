"""The contact import engine: read a file in batches, decide every row, write in bulk.

The dry run and the commit share everything up to the write: ``parsed_batches`` reads and
parses rows and marks duplicates by file order, ``decide_batch`` looks the batch's numbers up
(existing contacts and the do-not-contact list: one statement per batch on PostgreSQL, two
elsewhere, never one per row) and runs ``decide_row`` on each. The commit decides each batch
again with its contacts locked and writes it, together with its checkpoint, in one
transaction (``_write_batch``). On PostgreSQL the new contacts go in by COPY straight into the
contacts table and their consent records by one INSERT (or a COPY when the file declares
consent per row); the updates, and the new rows whenever a number became a contact meanwhile,
go through a temporary staging table filled by COPY and one statement that upserts the
contacts and inserts their consent records. Elsewhere the staging table is filled by INSERTs
and the upsert and the consent records are two statements.
"""

import gc
import json
import queue
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from contacts import csvfiles
from contacts.decisions import Decision, ExistingContact, decide_row
from contacts.models import ACCEPTED_OUTCOMES, ConsentRecord, Contact, ContactImport, DoNotContact, ImportOutcome
from contacts.phones import normalize_phone, phone_digits_key
from contacts.rowvalues import ConsentClaim, RowParser, RowValues, merge_tags
from contacts.searchtext import contact_search_keys

BATCH_ROWS = 5_000
PREVIEW_ROWS = 100
# Rows outside Australia listed by number on the preview (all are counted).
OUTSIDE_AU_ROWS = 100
OUTCOMES = tuple(ImportOutcome.values)


@contextmanager
def bulk_runtime():
    """Tune the interpreter for one long import run, and put it back afterwards.

    - The cyclic garbage collector: an import allocates millions of short-lived objects, which
      would trigger a full collection (tens of milliseconds over Django's own objects) every
      batch; frozen start-up objects and a higher first threshold cut that to near nothing.
    - The GIL switch interval: the parser thread (``read_ahead``) would otherwise keep the GIL
      for up to 5 ms each time the database thread wakes up from a query, many times a batch.
    """
    gc.collect()
    gc.freeze()
    threshold = gc.get_threshold()
    switch = sys.getswitchinterval()
    gc.set_threshold(100_000, 50, 100)
    sys.setswitchinterval(0.0005)
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        gc.set_threshold(*threshold)
        gc.unfreeze()


class ImportAborted(Exception):
    """The run lost its lease (another copy took over) or the import changed state under it."""


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


def read_ahead(batches: Iterator, *, depth: int = 2) -> Iterator:
    """Run a batch iterator in a background thread, ``depth`` batches ahead of the consumer.

    Parsing is pure Python and needs no database; the consumer mostly waits on PostgreSQL,
    which releases the GIL. Overlapping the two uses both cores. An exception in the producer
    is raised in the consumer; a consumer that stops early stops the producer.
    """
    done = object()
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # re-raised in the consumer
            failure.append(exc)
        finally:
            while not stop.is_set():
                try:
                    handoff.put(done, timeout=0.2)
                    break
                except queue.Full:
                    continue

    producer = threading.Thread(target=produce, name="import-parser", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not done:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        producer.join()


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


# --- progress and leases ------------------------------------------------------------------


def acquire_lease(import_id: int, *, status: str) -> tuple[ContactImport, object] | None:
    """Take the import's lease if it is in ``status`` and nobody holds a live lease.

    Returns (fresh import, lease token), or None when another run holds it or the state moved
    on, in which case the caller does nothing: running a task twice is harmless.
    """
    now = timezone.now()
    token = ContactImport.new_lease()
    lease_for = timezone.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS)
    claimed = (
        ContactImport.objects.filter(pk=import_id, status=status)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + lease_for)
    )
    if not claimed:
        return None
    return ContactImport.objects.select_related("tenant").get(pk=import_id), token


def renew(imp: ContactImport, token, **fields) -> None:
    """Renew the lease and write progress (and any other fields) in one conditional update."""
    now = timezone.now()
    fields.setdefault("progress_at", now)
    fields.setdefault("lease_until", now + timezone.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS))
    updated = ContactImport.objects.filter(pk=imp.pk, lease_token=token).update(**fields)
    if not updated:
        raise ImportAborted(f"import {imp.pk}: lease lost")


# --- the dry run ----------------------------------------------------------------------------


def run_preview(imp: ContactImport, token) -> dict[str, int]:
    """Decide every row without writing contacts; store counts, first rows and rejected rows."""
    with bulk_runtime():
        return _run_preview(imp, token)


def _run_preview(imp: ContactImport, token) -> dict[str, int]:
    statistics_refresh_if_stale()
    now = timezone.now()
    counts = empty_counts()
    preview: list[dict] = []
    outside = {"count": 0, "countries": {}, "rows": []}
    rejected_rel = f"imports/{imp.tenant_id}/{imp.pk}-rejected.csv"
    rejected_path = media_path(rejected_rel)
    rejected_path.parent.mkdir(parents=True, exist_ok=True)
    rows_done = 0
    # Written beside and moved into place at the end, so a download never sees half a file.
    partial = rejected_path.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8-sig") as out:
        writer = csvfiles.safe_writer(out)
        writer.writerow([*imp.headers, "row", "outcome", "reason"])
        for batch, last_row, offset in read_ahead(parsed_batches(imp, now=now)):
            for row in decide_batch(imp.tenant_id, batch):
                outcome = row.decision.outcome
                counts[outcome] += 1
                if outcome not in ACCEPTED_OUTCOMES:
                    writer.writerow([*row.fields, row.row_number, ImportOutcome(outcome).label, row.decision.reason])
                elif _outside_au(row):
                    _count_outside(outside, row)
                if len(preview) < PREVIEW_ROWS:
                    preview.append(_preview_row(row))
            rows_done = last_row
            renew(imp, token, rows_done=rows_done, bytes_done=offset)
    partial.replace(rejected_path)
    renew(
        imp,
        token,
        status=ContactImport.Status.PREVIEWED,
        preview_counts=counts,
        preview_rows=preview,
        outside_au=_outside_summary(outside),
        rejected_path=rejected_rel,
        previewed_at=timezone.now(),
        rows_total=sum(counts.values()),
        rows_done=sum(counts.values()),
        bytes_done=imp.size_bytes,
        lease_token=None,
        lease_until=None,
    )
    return counts


def _outside_au(row: DecidedRow) -> bool:
    """An accepted number outside Australia (+61 also covers Christmas and Cocos Islands, priced as AU)."""
    e164 = row.values.phone.e164 or ""
    return bool(e164) and not e164.startswith("+61")


def _count_outside(outside: dict, row: DecidedRow) -> None:
    region = row.values.phone.region or "?"
    outside["count"] += 1
    outside["countries"][region] = outside["countries"].get(region, 0) + 1
    if len(outside["rows"]) < OUTSIDE_AU_ROWS:
        outside["rows"].append([row.row_number, region])


def _outside_summary(outside: dict) -> dict:
    """As stored: the countries as [region, rows] pairs, most rows first (a JSON object's keys
    come back in the database's order); {} when every accepted number is Australian."""
    if not outside["count"]:
        return {}
    countries = sorted(outside["countries"].items(), key=lambda item: (-item[1], item[0]))
    return {**outside, "countries": [list(item) for item in countries]}


def _preview_row(row: DecidedRow) -> dict:
    v = row.values
    return {
        "row": row.row_number,
        "phone": v.phone.e164 or v.raw_phone,
        "name": " ".join(p for p in (v.first_name, v.last_name) if p),
        "email": v.email,
        "outcome": row.decision.outcome,
        "reason": row.decision.reason,
    }


# --- the commit -----------------------------------------------------------------------------

STAGE = "contact_import_stage"
STAGE_COLUMNS = (
    "phone",
    "first_name",
    "last_name",
    "email",
    "timezone",
    "state",
    "postcode",
    "tags",
    "custom_fields",
    "consent_kind",
    "consent_at",
    "consent_source",
    "consent_evidence",
    "search_name",
    "search_surname",
    "search_email",
)


def _stage_row(row: DecidedRow, adapt_datetime) -> tuple:
    v = row.values
    tags = merge_tags(row.existing.tags if row.existing else (), v.tags)
    custom = {**(row.existing.custom if row.existing else {}), **dict(v.custom)}
    c = v.consent
    # The upsert keeps a stored name or e-mail where the file's cell is empty: so does the key.
    old = row.existing
    keys = contact_search_keys(
        first_name=v.first_name or (old.first_name if old else ""),
        last_name=v.last_name or (old.last_name if old else ""),
        email=v.email or (old.email if old else ""),
    )
    return (
        v.phone.e164,
        v.first_name,
        v.last_name,
        v.email,
        v.timezone,
        v.state,
        v.postcode,
        # The JSON text Django itself would store (ASCII-escaped): on SQLite it is kept as is.
        json.dumps(tags),
        json.dumps(custom),
        c.kind,
        adapt_datetime(c.captured_at),
        c.source,
        c.evidence,
        *keys,
    )


def _load_stage(cursor, rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (phone text, first_name text, last_name text, email text,"
            " timezone text, state text, postcode text, tags jsonb, custom_fields jsonb, consent_kind text,"
            " consent_at timestamptz, consent_source text, consent_evidence text, search_name text,"
            " search_surname text, search_email text)"
            " ON COMMIT DELETE ROWS"
        )
        # Also emptied here: inside an outer transaction (a test, a caller's atomic block) the
        # batch's commit is only a savepoint and ON COMMIT has not run.
        cursor.execute(f"TRUNCATE {STAGE}")
        with cursor.copy(f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({', '.join(STAGE_COLUMNS)})")
        cursor.execute(f"DELETE FROM {STAGE}")
        placeholders = ", ".join(["%s"] * len(STAGE_COLUMNS))
        cursor.executemany(f"INSERT INTO {STAGE} VALUES ({placeholders})", rows)


def _keep_unless_empty(column: str, table: str) -> str:
    return f"{column} = CASE WHEN excluded.{column} <> '' THEN excluded.{column} ELSE {table}.{column} END"


def _upsert_sql() -> tuple[str, str | None]:
    """The contact upsert and the consent-record insert; on PostgreSQL one statement does both."""
    contact = Contact._meta.db_table
    consent = ConsentRecord._meta.db_table
    newer = f"{contact}.consent_at IS NULL OR {contact}.consent_at <= excluded.consent_at"
    # "WHERE true" lets SQLite tell the upsert's ON CONFLICT from a join constraint.
    upsert = f"""
        INSERT INTO {contact} (tenant_id, phone_e164, first_name, last_name, email, timezone, state, postcode,
            tags, custom_fields, consent_status, consent_at, undeliverable, undeliverable_reason, created_at,
            updated_at, search_name, search_surname, search_email)
        SELECT %s, phone, first_name, last_name, email, timezone, state, postcode, tags, custom_fields,
            consent_kind, consent_at, FALSE, '', %s, %s, search_name, search_surname, search_email
        FROM {STAGE} WHERE true
        ON CONFLICT (tenant_id, phone_e164) DO UPDATE SET
            {", ".join(_keep_unless_empty(c, contact) for c in ("first_name", "last_name", "email", "timezone", "state", "postcode"))},
            tags = excluded.tags,
            custom_fields = excluded.custom_fields,
            search_name = excluded.search_name,
            search_surname = excluded.search_surname,
            search_email = excluded.search_email,
            consent_status = CASE WHEN {newer} THEN excluded.consent_status ELSE {contact}.consent_status END,
            consent_at = CASE WHEN {newer} THEN excluded.consent_at ELSE {contact}.consent_at END,
            updated_at = excluded.updated_at
    """  # noqa: E501
    consent_columns = (
        "tenant_id, contact_id, kind, withdrawn, source, captured_at, evidence, source_import_id, recorded_by_id,"
        " created_at"
    )
    consent_values = "%s, c.id, s.consent_kind, FALSE, s.consent_source, s.consent_at, s.consent_evidence, %s, %s, %s"
    if connection.vendor == "postgresql":
        # The upsert hands back the ids it touched: the consent records join those 5,000 rows,
        # never the tenant's whole contact table.
        return (
            f"""
            WITH c AS ({upsert} RETURNING id, phone_e164)
            INSERT INTO {consent} ({consent_columns})
            SELECT {consent_values} FROM c JOIN {STAGE} s ON s.phone = c.phone_e164
            ON CONFLICT DO NOTHING
        """,
            None,
        )
    records = f"""
        INSERT INTO {consent} ({consent_columns})
        SELECT {consent_values}
        FROM {STAGE} s JOIN {contact} c ON c.tenant_id = %s AND c.phone_e164 = s.phone
        WHERE true
        ON CONFLICT DO NOTHING
    """
    return upsert, records


def run_commit(imp: ContactImport, token) -> dict[str, int]:
    """Apply every row's decision, batch by batch, resuming after ``imp.committed_rows``.

    Each batch re-decides its rows with their contacts locked, then upserts contacts, inserts
    consent records (at most one per contact and import) and moves the checkpoint, all in one
    transaction: a crash loses at most the batch in flight, and the re-run redoes only that.
    """
    with bulk_runtime():
        return _run_commit(imp, token)


def _write_batch(imp: ContactImport, decided: list[DecidedRow]) -> list[DecidedRow]:
    """Write a decided batch: creates by COPY on PostgreSQL, everything else by the upsert.

    Returns the rows as finally decided: when a number became a contact between the look-up
    and the COPY (a form, another import), the new rows are decided again against it, locked.
    """
    creates = [row for row in decided if row.decision.outcome == ImportOutcome.CREATE]
    updates = [row for row in decided if row.decision.outcome == ImportOutcome.UPDATE]
    stamp = timezone.now()
    with connection.cursor() as cursor:
        if creates and connection.vendor == "postgresql":
            try:
                with transaction.atomic():
                    _copy_creates(cursor, imp, creates, stamp)
                creates = []
            except (IntegrityError, psycopg.IntegrityError):
                again = decide_batch(
                    imp.tenant_id, [ParsedRow(r.row_number, r.fields, r.values, False) for r in creates], lock=True
                )
                redecided = {row.row_number: row for row in again}
                decided = [redecided.get(row.row_number, row) for row in decided]
                creates = [row for row in again if row.decision.outcome in (ImportOutcome.CREATE, ImportOutcome.UPDATE)]
        if creates or updates:
            _upsert(cursor, imp, [*creates, *updates], stamp)
    return decided


def _copy_creates(cursor, imp: ContactImport, rows: list[DecidedRow], stamp: datetime) -> None:
    """New contacts and their consent records by COPY, with ids taken from the sequence first.

    The fastest way PostgreSQL has to add rows; a number that became a contact in the meantime
    violates the unique constraint and the caller falls back to the upsert for the batch.
    """
    contact, consent = Contact._meta.db_table, ConsentRecord._meta.db_table
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [contact, len(rows)])
    ids = [pk for (pk,) in cursor.fetchall()]
    tenant_id, import_id, actor_id = imp.tenant_id, imp.pk, imp.created_by_id
    with cursor.copy(
        f"COPY {contact} (id, tenant_id, phone_e164, first_name, last_name, email, timezone, state, postcode, tags,"
        " custom_fields, consent_status, consent_at, undeliverable, undeliverable_reason, created_at, updated_at,"
        " search_name, search_surname, search_email) FROM STDIN"
    ) as copy:
        for pk, row in zip(ids, rows, strict=True):
            v, c = row.values, row.values.consent
            copy.write_row(
                (pk, tenant_id, v.phone.e164, v.first_name, v.last_name, v.email, v.timezone, v.state, v.postcode,
                 json.dumps(list(v.tags)), json.dumps(dict(v.custom)), c.kind, c.captured_at, False, "", stamp, stamp,
                 *contact_search_keys(first_name=v.first_name, last_name=v.last_name, email=v.email))
            )  # fmt: skip
    claims = {id(row.values.consent) for row in rows}
    if len(claims) == 1:
        # One declaration for the whole file (the usual case): one INSERT from the id array.
        c = rows[0].values.consent
        cursor.execute(
            f"INSERT INTO {consent} (tenant_id, contact_id, kind, withdrawn, source, captured_at, evidence,"
            " source_import_id, recorded_by_id, created_at)"
            " SELECT %s, pk, %s, FALSE, %s, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS ids(pk)",
            [tenant_id, c.kind, c.source, c.captured_at, c.evidence, import_id, actor_id, stamp, ids],
        )
        return
    with cursor.copy(
        f"COPY {consent} (tenant_id, contact_id, kind, withdrawn, source, captured_at, evidence, source_import_id,"
        " recorded_by_id, created_at) FROM STDIN"
    ) as copy:
        for pk, row in zip(ids, rows, strict=True):
            c = row.values.consent
            copy.write_row(
                (tenant_id, pk, c.kind, False, c.source, c.captured_at, c.evidence, import_id, actor_id, stamp)
            )


def _upsert(cursor, imp: ContactImport, rows: list[DecidedRow], stamp: datetime) -> None:
    """Creates and updates through the staging table: one upsert, then the consent records."""
    upsert_sql, records_sql = _upsert_sql()
    adapt_datetime = connection.ops.adapt_datetimefield_value
    _load_stage(cursor, [_stage_row(row, adapt_datetime) for row in rows])
    stamp = adapt_datetime(stamp)
    if records_sql is None:
        cursor.execute(upsert_sql, [imp.tenant_id, stamp, stamp, imp.tenant_id, imp.pk, imp.created_by_id, stamp])
    else:
        cursor.execute(upsert_sql, [imp.tenant_id, stamp, stamp])
        cursor.execute(records_sql, [imp.tenant_id, imp.pk, imp.created_by_id, stamp, imp.tenant_id])


def statistics_refresh_if_stale() -> bool:
    """ANALYZE the contacts table when many rows changed since its statistics (True when it did).

    Run before a dry run or commit reads anything: a tenant whose contacts arrived since the last
    ANALYZE (an earlier import, with autovacuum off or behind) is unknown to the planner, which
    then walks the tenant's pagination index for every number of a batch: the review's chaos run
    saw 12.9 s per 5,000 numbers before an ANALYZE and 31 ms after.
    """
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s"
            " JOIN pg_class c ON c.oid = s.relid WHERE s.relname = %s",
            [Contact._meta.db_table],
        )
        row = cursor.fetchone()
        if row is None or row[0] <= max(1_000, 0.1 * max(row[1], 0)):
            return False
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")
    return True


def _refresh_statistics(batch_number: int) -> None:
    """Tell PostgreSQL's planner how big the tenant has become, after batches 1, 2, 4, 8 …

    A tenant importing its first contacts is unknown to the planner's statistics, which then
    judges a scan of the tenant's (tenant, -id) pagination index as cheap as a probe of the
    unique (tenant, phone) index, and every look-up of a batch walks all the contacts imported
    so far: a million-row import slowed to a crawl on a fresh database. A few ANALYZEs while
    the tenant grows (about ten for a million rows, a fraction of a second each) keep the
    probe on the unique index.
    """
    if connection.vendor == "postgresql" and batch_number & (batch_number - 1) == 0:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Contact._meta.db_table}")


def _run_commit(imp: ContactImport, token) -> dict[str, int]:
    statistics_refresh_if_stale()
    now = timezone.now()
    counts = {**empty_counts(), **(imp.commit_counts or {})}
    batches = read_ahead(parsed_batches(imp, skip_rows=imp.committed_rows, now=now))
    for number, (batch, last_row, offset) in enumerate(batches, start=1):
        with transaction.atomic():
            decided = _write_batch(imp, decide_batch(imp.tenant_id, batch, lock=True))
            for outcome, n in Counter(row.decision.outcome for row in decided).items():
                counts[outcome] += n
            renew(imp, token, committed_rows=last_row, commit_counts=counts, rows_done=last_row, bytes_done=offset)
        _refresh_statistics(number)
    preview = {**empty_counts(), **imp.preview_counts}
    renew(
        imp,
        token,
        status=ContactImport.Status.COMMITTED,
        committed_at=timezone.now(),
        commit_counts=counts,
        data_changed=counts != preview,
        rows_done=sum(counts.values()),
        bytes_done=imp.size_bytes,
        lease_token=None,
        lease_until=None,
    )
    return counts
