"""The commit: decide each batch again with its contacts locked and write it, together with its checkpoint,
in one transaction, resuming after the last checkpoint."""

from collections import Counter

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.imports.batches import DecidedRow, ParsedRow, decide_batch, empty_counts, parsed_batches
from contacts.imports.leases import renew
from contacts.imports.planner import _refresh_statistics, statistics_refresh_if_stale
from contacts.imports.runtime import bulk_runtime, read_ahead
from contacts.imports.writes import _copy_creates, _upsert
from contacts.models import ContactImport, ImportOutcome
from smscrm import metrics
from webhooks.events import event_emit, timestamp
from webhooks.models import EventType


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
        metrics.import_rows(row.decision.outcome for row in decided)
        _refresh_statistics(number)
    preview = {**empty_counts(), **imp.preview_counts}
    committed_at = timezone.now()
    with transaction.atomic():  # the import.completed event webhook commits with the status
        renew(
            imp,
            token,
            status=ContactImport.Status.COMMITTED,
            committed_at=committed_at,
            commit_counts=counts,
            data_changed=counts != preview,
            rows_done=sum(counts.values()),
            bytes_done=imp.size_bytes,
            lease_token=None,
            lease_until=None,
        )
        event_emit(
            tenant_id=imp.tenant_id,
            type=EventType.IMPORT_COMPLETED,
            data=lambda: {
                "import_id": imp.pk,
                "file_name": imp.original_name,
                "counts": counts,
                "completed_at": timestamp(committed_at),
            },
        )
    return counts
