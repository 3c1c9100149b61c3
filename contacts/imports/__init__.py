"""The contact import engine: read a file in batches, decide every row, write in bulk.

The dry run (``preview``) and the commit (``commit``) share everything up to the write
(``batches``): ``parsed_batches`` reads and parses rows and marks duplicates by file order,
``decide_batch`` looks the batch's numbers up (existing contacts and the do-not-contact list:
one statement per batch on PostgreSQL, two elsewhere, never one per row) and runs
``decide_row`` on each. The commit decides each batch again with its contacts locked and
writes it, together with its checkpoint, in one transaction (``commit._write_batch``). On
PostgreSQL the new contacts go in by COPY straight into the contacts table and their consent
records by one INSERT (or a COPY when the file declares consent per row); the updates, and the
new rows whenever a number became a contact meanwhile, go through a temporary staging table
filled by COPY and one statement that upserts the contacts and inserts their consent records.
Elsewhere the staging table is filled by INSERTs and the upsert and the consent records are two
statements (``writes``).

A run holds the import's lease (``leases``), tunes the interpreter and parses ahead in a thread
(``runtime``) and keeps the planner's statistics fresh (``planner``). This module only gathers
the public names; each is defined, and looked up, in its own module.
"""

from contacts.imports.batches import (
    BATCH_ROWS,
    OUTCOMES,
    DecidedRow,
    ParsedRow,
    decide_batch,
    empty_counts,
    media_path,
    parsed_batches,
    row_parser,
)
from contacts.imports.commit import run_commit
from contacts.imports.leases import ImportAborted, acquire_lease, renew
from contacts.imports.planner import statistics_refresh_if_stale
from contacts.imports.preview import run_preview
from contacts.imports.runtime import bulk_runtime, read_ahead

__all__ = [
    "BATCH_ROWS",
    "OUTCOMES",
    "DecidedRow",
    "ImportAborted",
    "ParsedRow",
    "acquire_lease",
    "bulk_runtime",
    "decide_batch",
    "empty_counts",
    "media_path",
    "parsed_batches",
    "read_ahead",
    "renew",
    "row_parser",
    "run_commit",
    "run_preview",
    "statistics_refresh_if_stale",
]
