"""Turn uploaded CSV bytes into rows robustly and fast, and write CSV exports safely.

Staff upload files exported from Excel, Google Contacts, Shopify, HubSpot, Mailchimp and point-of-sale systems:
up to a million rows and a couple of hundred megabytes, in whatever encoding and delimiter the exporting program
chose. This package is pure standard library (no Django) so the same code runs in a view, a management command and
a Celery task.

Reading is two steps:

1. :func:`inspect_file` (``inspection``) reads the whole file once (hash, size, encoding: ``encoding``), rejects
   what is not a CSV with a message fit to show the user (:class:`CsvFileError`, ``errors``), sniffs the delimiter
   and returns the header and a few sample rows.
2. :func:`open_rows` (``streaming``) streams the data rows with the encoding and delimiter that inspection found.

Mapping: :func:`auto_map` (``mapping``) guesses which known field each header holds.

Writing: :func:`safe_cell`, :func:`safe_writer` and :func:`csv_bytes_iter` (``export``) neutralise spreadsheet
formula injection in exports.

This module only gathers the public names; tunables such as ``MAX_LINE_CHARS`` live in (and are read from) the
module that uses them.
"""

from contacts.csvfiles.errors import CsvFileError, format_size
from contacts.csvfiles.export import SafeWriter, csv_bytes_iter, safe_cell, safe_writer
from contacts.csvfiles.inspection import FileInfo, inspect_file
from contacts.csvfiles.mapping import FIELDS, SYNONYMS, auto_map, normalize_header
from contacts.csvfiles.streaming import count_rows, open_rows

__all__ = [
    "FIELDS",
    "SYNONYMS",
    "CsvFileError",
    "FileInfo",
    "SafeWriter",
    "auto_map",
    "count_rows",
    "csv_bytes_iter",
    "format_size",
    "inspect_file",
    "normalize_header",
    "open_rows",
    "safe_cell",
    "safe_writer",
]
