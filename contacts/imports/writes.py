"""The commit's bulk writes: new contacts and their consent records by COPY on PostgreSQL, and the upsert
through a staging table for updates (and for new rows whenever a number became a contact meanwhile).

On PostgreSQL the staging table is filled by COPY and one statement upserts the contacts and
inserts their consent records; elsewhere it is filled by INSERTs and the upsert and the consent
records are two statements.
"""

import json
from datetime import datetime

from django.db import connection

from contacts.imports.batches import DecidedRow
from contacts.models import ConsentRecord, Contact, ContactImport
from contacts.rowvalues import merge_tags
from contacts.searchtext import contact_search_keys

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


def recorder_id(imp) -> int | None:
    """Who an import's consent records name as having recorded them: the person who committed
    the import (who decided the rows go in), else its uploader (an import committed by a task)."""
    return imp.committed_by_id or imp.created_by_id


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


def _copy_creates(cursor, imp: ContactImport, rows: list[DecidedRow], stamp: datetime) -> None:
    """New contacts and their consent records by COPY, with ids taken from the sequence first.

    The fastest way PostgreSQL has to add rows; a number that became a contact in the meantime
    violates the unique constraint and the caller falls back to the upsert for the batch.
    """
    contact, consent = Contact._meta.db_table, ConsentRecord._meta.db_table
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [contact, len(rows)])
    ids = [pk for (pk,) in cursor.fetchall()]
    tenant_id, import_id, actor_id = imp.tenant_id, imp.pk, recorder_id(imp)
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
        cursor.execute(upsert_sql, [imp.tenant_id, stamp, stamp, imp.tenant_id, imp.pk, recorder_id(imp), stamp])
    else:
        cursor.execute(upsert_sql, [imp.tenant_id, stamp, stamp])
        cursor.execute(records_sql, [imp.tenant_id, imp.pk, recorder_id(imp), stamp, imp.tenant_id])
