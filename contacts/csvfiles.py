"""Turn uploaded CSV bytes into rows robustly and fast, and write CSV exports safely.

Staff upload files exported from Excel, Google Contacts, Shopify, HubSpot, Mailchimp and point-of-sale systems:
up to a million rows and a couple of hundred megabytes, in whatever encoding and delimiter the exporting program
chose. This module is pure standard library (no Django) so the same code runs in a view, a management command and
a Celery task.

Reading is two steps:

1. :func:`inspect_file` reads the whole file once (hash, size, encoding), rejects what is not a CSV with a message
   fit to show the user (:class:`CsvFileError`), sniffs the delimiter and returns the header and a few sample rows.
2. :func:`open_rows` streams the data rows with the encoding and delimiter that inspection found.

Writing: :func:`safe_cell`, :func:`safe_writer` and :func:`csv_bytes_iter` neutralise spreadsheet formula injection
in exports.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import IO, Any

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

StrPath = str | os.PathLike[str]

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough that hashing 200 MB is ~200 reads, small enough to keep memory flat.
SNIFF_CHARS = 64 * 1024  # Enough lines for a delimiter vote without making Sniffer's regexes slow.
SAMPLE_ROWS = 5
DELIMITERS = (",", ";", "\t", "|")
# A contacts file has tens of columns; past this it is not one (and a mapping page for 100,000 columns would take a
# worker's memory). The importer's setting passes its own limit; this is the default.
MAX_COLUMNS = 500
# The longest physical line read, in characters: a real row is a few hundred; a 100 MB line would be parsed into a
# list of millions of cells before anything could look at it.
MAX_LINE_CHARS = 1 << 20
DEFAULT_DELIMITER = ","  # A single-column file (just phone numbers) has no delimiter at all; "," is harmless.

# Decoding errors never abort an import: an undefined cp1252 byte (0x81 0x8D 0x8F 0x90 0x9D), an odd trailing byte
# in UTF-16 or a file that changed after inspection becomes U+FFFD in that one cell instead of a crash at row 900,000.
DECODE_ERRORS = "replace"

_SAVE_AS_CSV = "in Excel use File › Save As › CSV UTF-8."


class CsvFileError(ValueError):
    """The uploaded file cannot be read as CSV; ``str(error)`` is a plain-words reason shown to the user verbatim."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FileInfo:
    """What :func:`inspect_file` learned; pass ``encoding`` and ``delimiter`` on to :func:`open_rows`.

    ``headers`` are stripped and made unique (so a column mapping can key on them); ``sample_rows`` are the first
    data rows, padded to the header width exactly as :func:`open_rows` pads them.
    """

    sha256: str
    size: int
    encoding: str
    delimiter: str
    headers: list[str]
    sample_rows: list[list[str]]


# --------------------------------------------------------------------------------------------------------------------
# Inspection
# --------------------------------------------------------------------------------------------------------------------


def format_size(num_bytes: int, *, decimals: int = 1) -> str:
    """Format a byte count the way people read it ("250.0 MB", "12.3 KB", "512 bytes"), 1024-based like Django."""
    if num_bytes < 1024:
        return "1 byte" if num_bytes == 1 else f"{num_bytes} bytes"
    units = ("KB", "MB", "GB", "TB")
    value = num_bytes / 1024
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    return f"{value:.{decimals}f} {units[unit]}"


def _format_limit(max_bytes: int) -> str:
    """Format a configured limit without a pointless ".0" ("200 MB", not "200.0 MB")."""
    text = format_size(max_bytes)
    return text.replace(".0 ", " ")


def _too_big_message(size: int, max_bytes: int) -> str:
    actual, limit = format_size(size), _format_limit(max_bytes)
    if actual.replace(".0 ", " ") == limit:
        # 200.04 MB over a 200 MB limit would otherwise read "200.0 MB; the limit is 200 MB".
        actual = format_size(size, decimals=2)
    return f"The file is {actual}; the limit is {limit}."


def _reject_known_binary(head: bytes) -> None:
    """Recognise the files staff upload by mistake by their magic bytes, so the message says what to do instead."""
    if head.startswith(b"PK\x03\x04"):
        raise CsvFileError(f"This is an Excel workbook (.xlsx), not a CSV: {_SAVE_AS_CSV}")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise CsvFileError(f"This is an old Excel workbook (.xls), not a CSV: {_SAVE_AS_CSV}")
    if head.startswith(b"%PDF"):
        raise CsvFileError(
            "This is not a text file: it is a PDF document. Export the contacts as CSV from the program they came from."
        )


def _binary_message() -> str:
    return (
        "This is not a text file: it contains binary data. Upload a CSV file instead "
        "(in Excel use File › Save As › CSV UTF-8)."
    )


# C0 control characters that never appear in text files (tab, LF, VT, FF, CR and ctrl-Z, an old DOS end-of-file
# marker some POS systems still write, are allowed).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 26)) + b"\x7f"


def _looks_binary(head: bytes) -> bool:
    """True when more than 5% of the first bytes are control characters: a binary file that happens to lack NULs."""
    sample = head[:8192]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls * 20 > len(sample)


def _bom_encoding(head: bytes) -> str | None:
    """The encoding a byte order mark announces, or None. UTF-32 goes first: its LE BOM starts with UTF-16's."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Python's utf-16 codec reads the BOM to pick the byte order, and drops it.
    return None


def _bomless_utf16(head: bytes) -> str | None:
    """Detect UTF-16 without a BOM: CSV text is mostly ASCII, so every other byte of the first 1000 is NUL.

    A threshold rather than "every single one" keeps names in Chinese or emoji from defeating the check.
    """
    sample = head[:1000]
    sample = sample[: len(sample) // 2 * 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nuls >= pairs * 0.7 and even_nuls <= pairs * 0.1:
        return "utf-16-le"
    if even_nuls >= pairs * 0.7 and odd_nuls <= pairs * 0.1:
        return "utf-16-be"
    return None


def _hash_and_detect_encoding(path: StrPath, max_bytes: int) -> tuple[str, int, str]:
    """Read the whole file once in 1 MiB chunks: sha256, size, and the encoding (see :func:`inspect_file`).

    UTF-8 is validated over the ENTIRE file with an incremental decoder (a chunk boundary may split a character)
    because one Windows-1252 byte at row 900,000 means the whole file is Windows-1252.
    """
    size = os.stat(path).st_size
    if size == 0:
        raise CsvFileError("The file is empty.")
    if size > max_bytes:
        raise CsvFileError(_too_big_message(size, max_bytes))

    digest = hashlib.sha256()
    total = 0
    with open(path, "rb") as f:
        first = f.read(CHUNK_SIZE)
        _reject_known_binary(first)
        encoding = _bom_encoding(first) or _bomless_utf16(first)
        check_nul = encoding is None or encoding == "utf-8-sig"
        utf8_decoder = codecs.getincrementaldecoder("utf-8")() if encoding is None else None
        if check_nul and _looks_binary(first):
            raise CsvFileError(_binary_message())

        chunk = first
        while chunk:
            digest.update(chunk)
            total += len(chunk)
            # NUL never occurs in a text file that is not UTF-16/32; `in` on bytes is a memchr, so this is cheap.
            if check_nul and b"\x00" in chunk:
                raise CsvFileError(_binary_message())
            if utf8_decoder is not None:
                try:
                    utf8_decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8_decoder = None
                    encoding = "cp1252"
            if total > max_bytes:  # The file grew after stat(); still never read more than allowed.
                raise CsvFileError(_too_big_message(total, max_bytes))
            chunk = f.read(CHUNK_SIZE)

    if utf8_decoder is not None:
        try:
            utf8_decoder.decode(b"", final=True)  # A multi-byte character cut off at the very end.
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    assert encoding is not None  # every branch above sets it; narrows the type
    if total == 0:
        raise CsvFileError("The file is empty.")
    return digest.hexdigest(), total, encoding


_QUOTED = re.compile(r'"[^"]*"')  # "" escapes are two adjacent quoted runs, which this removes just as well.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _first_logical_line(sample: str) -> str:
    """The header line of the sample: the first non-blank line, joined with the next ones while a quote is open."""
    parts: list[str] = []
    quotes = 0
    for line in _LINE_BREAK.split(sample):
        if not parts and not line.strip():
            continue
        parts.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            break
    return "\n".join(parts)


def _field_count_consistency(sample: str, delimiter: str) -> float:
    """Share of the sample's data rows whose field count equals the header's under ``delimiter`` (1.0 if none)."""
    try:
        reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
        rows = list(islice((row for row in reader if not _is_blank(row)), 50))
    except csv.Error:
        return 0.0
    if len(rows) < 2:
        return 1.0
    width = len(rows[0])
    data = rows[1:]
    return sum(len(row) == width for row in data) / len(data)


def _sniff_delimiter(sample: str) -> str:
    """Pick the delimiter among , ; TAB | for this sample of decoded text.

    csv.Sniffer is tried first, restricted to those candidates; it is overruled when it fails or when it disagrees
    with the header line: then the candidate occurring most in the header (outside quotes) among those giving the most
    consistent field count over the first lines wins. No candidate in the header means a single-column file.
    """
    header_line = _QUOTED.sub("", _first_logical_line(sample))
    header_counts = {d: header_line.count(d) for d in DELIMITERS if d in header_line}
    if not header_counts:
        return DEFAULT_DELIMITER

    consistency = {d: _field_count_consistency(sample, d) for d in header_counts}
    best = max(header_counts, key=lambda d: (consistency[d], header_counts[d]))
    try:
        sniffed: str | None = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in header_counts and consistency[sniffed] >= consistency[best]:
        return sniffed
    return best


def _read_sniff_sample(path: StrPath, encoding: str) -> str:
    """Up to ~64 KiB of decoded text, cut at the last line break so a half line does not skew the vote."""
    with open(path, encoding=encoding, errors=DECODE_ERRORS, newline="") as f:
        sample = f.read(SNIFF_CHARS)
        at_eof = not f.read(1)
    if not at_eof:
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            sample = sample[: cut + 1]
    return sample


def _clean_headers(raw: list[str]) -> list[str]:
    """Strip whitespace and a stray BOM; name empty columns "Column N" and number duplicates "Phone (2)".

    Every header ends up unique and non-empty so a column mapping (header → field) is unambiguous. Linear in the
    number of headers: each name remembers the next number to try, so 40,000 copies of one name cost 40,000 steps,
    not 800 million.
    """
    stripped = [cell.replace("\ufeff", "").strip() for cell in raw]
    taken = {name.casefold() for name in stripped if name}
    seen: set[str] = set()
    next_number: dict[str, int] = {}
    result: list[str] = []

    def numbered(base: str, template: str, first: int) -> str:
        key = base.casefold()
        n = next_number.get(key, first)
        candidate = template.format(base=base, n=n)
        while candidate.casefold() in taken or candidate.casefold() in seen:
            n += 1
            candidate = template.format(base=base, n=n)
        next_number[key] = n + 1
        return candidate

    for index, name in enumerate(stripped, start=1):
        if not name:
            candidate = f"Column {index}"
            if candidate.casefold() in taken or candidate.casefold() in seen:  # a real column may be "Column 3"
                candidate = numbered(candidate, "{base} ({n})", 2)
        elif name.casefold() in seen:
            candidate = numbered(name, "{base} ({n})", 2)
        else:
            candidate = name
        seen.add(candidate.casefold())
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def inspect_file(path: StrPath, *, max_bytes: int, max_columns: int = MAX_COLUMNS) -> FileInfo:
    """Check an uploaded file and learn how to read it; raise :class:`CsvFileError` with a user-facing reason.

    Reads the whole file once for sha256, size and encoding, then only the first ~64 KiB for the delimiter, the
    header and up to five sample rows.

    Encoding, first match wins: UTF-8 BOM → "utf-8-sig"; UTF-16 BOM → "utf-16" (UTF-32 BOM → "utf-32"); NULs in
    every other byte of the first 1000 → "utf-16-le"/"utf-16-be"; the whole file valid UTF-8 → "utf-8"; otherwise
    "cp1252" (Excel's plain "CSV" on Windows). :func:`open_rows` decodes with errors="replace", so cp1252's five
    undefined bytes become U+FFFD rather than an exception.

    A header of more than ``max_columns`` columns, or any line longer than ``MAX_LINE_CHARS``, is refused.
    """
    sha256, size, encoding = _hash_and_detect_encoding(path, max_bytes)
    sample = _read_sniff_sample(path, encoding)
    delimiter = _sniff_delimiter(sample)

    with _open_text(path, encoding) as (text, raw):
        reader = _make_reader(text, delimiter)
        header = _read_header(reader)
        if header is None:
            raise CsvFileError("The file contains only blank lines: there is no header row with column names.")
        if len(header) > max_columns:
            raise CsvFileError(
                f"The header row has {len(header):,} columns; at most {max_columns:,} can be imported. "
                "Check that the right delimiter was used, or remove the columns you do not need."
            )
        rows = _data_rows(reader, raw, len(header), max_columns)
        # The samples show the columns the header names; a row's extra cells belong to none.
        sample_rows = [fields[: len(header)] for _, fields, _ in islice(rows, SAMPLE_ROWS)]

    return FileInfo(
        sha256=sha256,
        size=size,
        encoding=encoding,
        delimiter=delimiter,
        headers=_clean_headers(header),
        sample_rows=sample_rows,
    )


# --------------------------------------------------------------------------------------------------------------------
# Streaming rows
# --------------------------------------------------------------------------------------------------------------------


class _CountingFile(io.RawIOBase):
    """A raw binary file that counts the bytes read, so progress costs an attribute read per row, not an lseek()."""

    def __init__(self, path: StrPath) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close() below
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        n = self._file.readinto(buffer)
        if n:
            self.position += n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


@contextmanager
def _open_text(path: StrPath, encoding: str) -> Iterator[tuple[io.TextIOWrapper, _CountingFile]]:
    """Open ``path`` as text with a 1 MiB buffer and universal-newline-free reading (csv handles line ends)."""
    raw = _CountingFile(path)
    try:
        buffered = io.BufferedReader(raw, buffer_size=CHUNK_SIZE)
        # newline="" so a line break inside a quoted field reaches csv intact.
        text = io.TextIOWrapper(buffered, encoding=encoding, errors=DECODE_ERRORS, newline="")
    except BaseException:
        raw.close()
        raise
    with text:
        yield text, raw


def _bounded_lines(text: IO[str], limit: int) -> Iterator[str]:
    """The file's physical lines, refusing one longer than ``limit`` characters before reading more of it."""
    readline = text.readline
    number = 0
    while True:
        line = readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(("\n", "\r")):
            raise CsvFileError(
                f"Line {number:,} of the file is longer than {format_size(limit)}: this is not a contacts file "
                "(or its rows are not separated by line breaks). Export it again as CSV."
            )
        if "\x00" in line:  # a UTF-16 file may carry U+0000, which no database text can hold
            line = line.replace("\x00", "")
        yield line


def _make_reader(text: IO[str], delimiter: str) -> Any:
    """The one csv dialect used for both inspection and import (Excel's: double quotes, "" escapes)."""
    return csv.reader(
        _bounded_lines(text, MAX_LINE_CHARS), delimiter=delimiter, quotechar='"', doublequote=True, strict=False
    )


def _is_blank(fields: list[str]) -> bool:
    """A row with no cells or only empty/whitespace cells (Excel exports trailing empty rows as ",,,,")."""
    return not "".join(fields).strip()


def _csv_error(what: str, error: csv.Error) -> CsvFileError:
    # With strict=False the only error csv raises on text is the field size limit, which an unclosed quote hits by
    # swallowing the rest of the file into one cell. csv's own wording ("field larger than field limit") means
    # nothing to staff; it stays on __cause__ for the logs.
    return CsvFileError(
        f'{what} could not be read: a cell starts with a double quote (") that is never closed, so the rest of the '
        "file runs into that one cell. Fix or remove that quote and upload the file again."
    )


def _read_header(reader: Any) -> list[str] | None:
    """The first non-blank row, or None when there is none."""
    try:
        for fields in reader:
            if not _is_blank(fields):
                return fields
    except csv.Error as error:
        raise _csv_error("The header row", error) from error
    return None


def _data_rows(
    reader: Any, raw: _CountingFile, width: int, max_columns: int = MAX_COLUMNS
) -> Iterator[tuple[int, list[str], int]]:
    """Yield (data_row_number, fields, byte_offset) for every non-blank row after the header.

    A row of more than ``max_columns`` cells is refused, as a header of that many would be. This is the hot loop of
    a million-row import: keep per-row work to a truthiness test, a len() or two and a tuple.
    """
    row_number = 0
    try:
        for fields in reader:
            # Fast path: a first cell with text settles it; only rows starting empty pay for the full blank check.
            if not (fields and fields[0].strip()) and _is_blank(fields):
                continue
            row_number += 1
            cells = len(fields)
            if cells < width:
                fields += [""] * (width - cells)
            elif cells > max_columns:
                raise CsvFileError(
                    f"Row {row_number:,} has {cells:,} cells; at most {max_columns:,} can be imported. "
                    "Check that the right delimiter was used."
                )
            yield row_number, fields, raw.position
    except csv.Error as error:
        raise _csv_error(f"Row {row_number + 1}", error) from error


@contextmanager
def open_rows(
    path: StrPath, *, encoding: str, delimiter: str, max_columns: int = MAX_COLUMNS
) -> Iterator[Iterator[tuple[int, list[str], int]]]:
    """Stream the data rows of a CSV file; use the ``encoding`` and ``delimiter`` from :func:`inspect_file`.

    Yields an iterator of ``(data_row_number, fields, byte_offset)``:

    - ``data_row_number`` counts data rows from 1; the header and blank lines are not counted, and a quoted cell
      spanning several physical lines is still one row.
    - ``fields`` is a fresh list of cell strings (not stripped), padded with "" to the header's width; longer rows
      keep their extra cells for the caller to judge, up to ``max_columns`` (past it: :class:`CsvFileError`).
    - ``byte_offset`` is how many bytes of the file have been read so far, advancing in 1 MiB steps: progress is
      ``byte_offset / FileInfo.size``.

    The file is never loaded whole. A malformed file (a quote never closed) raises :class:`CsvFileError` mid-way.
    """
    with _open_text(path, encoding) as (text, raw):
        reader = _make_reader(text, delimiter)
        header = _read_header(reader)
        yield iter(()) if header is None else _data_rows(reader, raw, len(header), max_columns)


def count_rows(path: StrPath, *, encoding: str, delimiter: str) -> int:
    """Count data rows exactly as :func:`open_rows` numbers them; costs one parse pass (about 1 s per 1M rows)."""
    count = 0
    with open_rows(path, encoding=encoding, delimiter=delimiter) as rows:
        for count, _, _ in rows:  # noqa: B007 - the last row number is the count
            pass
    return count


# --------------------------------------------------------------------------------------------------------------------
# Header auto-mapping
# --------------------------------------------------------------------------------------------------------------------

FIELDS: tuple[tuple[str, str], ...] = (
    ("phone", "Mobile phone"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("full_name", "Full name"),
    ("email", "Email"),
    ("timezone", "Time zone"),
    ("state", "State"),
    ("postcode", "Postcode"),
    ("tags", "Tags"),
    ("consent_kind", "Consent type"),
    ("consent_source", "Consent source"),
    ("consent_date", "Consent date"),
    ("consent_evidence", "Consent evidence"),
)
"""The fields a CSV column can be mapped to, as (name, human label), in the order the mapping UI lists them."""


def normalize_header(name: str) -> str:
    """Reduce a header to lowercase ASCII-ish letters and digits: "E-mail 1 - Value" → "email1value".

    Accents are stripped ("Téléphone" → "telephone") and every non-alphanumeric character dropped, so spelling
    variants of one header compare equal.
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


# Synonyms per field, best first, written as people write them and normalised below. Within a field an earlier
# synonym beats a later one: that is how a "Mobile" column wins over a generic "Phone" column in the same file.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": (
        "mobile",
        "mobile phone",
        "mobile number",
        "mobile phone number",
        "mobile no",
        "mobile ph",
        "mob",
        "cell",
        "cell phone",
        "cellphone",
        "cell number",
        "cell phone number",
        "sms number",
        "msisdn",
        "phone 1 - value",  # Google Contacts
        "phone",
        "phone number",
        "phone no",
        "ph",
        "telephone",
        "telephone number",
        "tel",
        "contact number",
        "contact phone",
        "sms",
        "default address phone",  # Shopify: the address's phone; the customer's own "Phone" ranks above it.
        "billing phone",
        "shipping phone",
    ),
    "first_name": ("first name", "firstname", "given name", "fname", "first", "forename", "preferred name"),
    "last_name": ("last name", "lastname", "surname", "family name", "lname", "last"),
    "full_name": ("name", "full name", "contact name", "customer name", "client name", "display name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "e-mail 1 - value", "email 1 - value", "mail"),
    "timezone": ("timezone", "time zone", "tz"),
    "state": ("state", "province", "region", "state/province", "state/region", "default address province code"),
    "postcode": (
        "postcode",
        "post code",
        "postal code",
        "zip",
        "zip code",
        "zipcode",
        "default address zip",  # Shopify
    ),
    "tags": ("tags", "tag", "labels", "groups", "group membership", "segment", "segments", "lists"),
    "consent_kind": (
        "sms consent",
        "accepts sms marketing",  # Shopify; "Accepts Email Marketing" is deliberately absent: email ≠ SMS consent.
        "consent",
        "consent type",
        "marketing consent",
        "opt in",
        "optin",
        "opted in",
        "sms opt in",
    ),
    "consent_source": ("consent source", "opt in source", "optin source", "sms consent source", "source"),
    # "Created At" is deliberately absent: an account's creation date is not evidence of consent to SMS marketing.
    "consent_date": (
        "consent date",
        "consented at",
        "opt in date",
        "optin date",
        "opt in time",  # Mailchimp OPTIN_TIME
        "confirm time",  # Mailchimp CONFIRM_TIME
        "date subscribed",
        "subscribed at",
        "sms consent date",
        "accepts sms marketing updated at",  # Shopify
    ),
    # A bare "IP Address" column is deliberately absent: only an IP recorded at opt-in says anything about consent.
    "consent_evidence": ("consent evidence", "evidence", "opt in url", "optin url", "opt in ip", "confirm ip"),
}

# Substring fallbacks, best first, for headers like "Customer Mobile" or "Billing Email" that no exact synonym lists.
# Only used for a field no header matched exactly, and never for headers about consent or the *type* of a value.
_FUZZY: dict[str, tuple[str, ...]] = {
    "phone": ("mobile", "cell", "phone", "msisdn"),
    "email": ("email",),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname", "familyname"),
    "postcode": ("postcode", "postalcode", "zip"),
    "tags": ("tags",),
    "timezone": ("timezone",),
}
_FUZZY_BLOCKERS = (
    "accept",
    "consent",
    "optin",
    "optout",
    "subscri",
    "marketing",
    "type",
    "label",
    "status",
    "verified",
    "fax",
    "carrier",
    "extension",
    "date",
)

_EXACT: dict[str, dict[str, int]] = {}
for _field, _names in SYNONYMS.items():
    for _rank, _name in enumerate(_names):
        _EXACT.setdefault(normalize_header(_name), {}).setdefault(_field, _rank)
del _field, _names, _rank, _name


def auto_map(headers: list[str]) -> dict[str, str]:
    """Guess which header holds which known field: ``{header: field_name}`` in header order.

    Exact synonym matches (after :func:`normalize_header`) beat substring fallbacks; within each kind the earlier
    synonym wins, then the leftmost column. Every field and every header is used at most once. Headers matching no
    field are left out; the UI offers them as custom fields.
    """
    candidates: list[tuple[int, int, int, str]] = []
    for index, header in enumerate(headers):
        norm = normalize_header(header)
        if not norm:
            continue
        exact = _EXACT.get(norm, {})
        for field, rank in exact.items():
            candidates.append((0, rank, index, field))
        if any(blocker in norm for blocker in _FUZZY_BLOCKERS):
            continue
        for field, keywords in _FUZZY.items():
            if field in exact:
                continue
            for rank, keyword in enumerate(keywords):
                if keyword in norm:
                    candidates.append((1, rank, index, field))
                    break

    chosen: dict[int, str] = {}
    used_fields: set[str] = set()
    for _kind, _rank, index, field in sorted(candidates):
        if field in used_fields or index in chosen:
            continue
        chosen[index] = field
        used_fields.add(field)
    return {headers[index]: chosen[index] for index in sorted(chosen)}


# --------------------------------------------------------------------------------------------------------------------
# Safe CSV export
# --------------------------------------------------------------------------------------------------------------------

# What starts a formula in Excel, LibreOffice or Sheets: = + - @, and their full-width forms, which a Japanese or
# Chinese input method types and some spreadsheets accept as well.
_FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
# Leading characters a spreadsheet may skip before looking for a formula (or that start one on their own).
_SKIPPED = " \t\r\n\u00a0\u3000"


# A signed number as people write one, phone numbers included: an ASCII + or - right at the start, then ASCII digits
# in groups separated by single spaces, and at most one decimal part. Nothing a spreadsheet could evaluate into a
# reference, a function call or a command: "+61412345678", "+61 412 345 678", "-5", "-12.50".
_SIGNED_NUMBER = re.compile(r"[+-][0-9]+(?: [0-9]+)*(?:\.[0-9]+)?")


def safe_cell(value: object) -> str:
    """Render one exported cell so a spreadsheet never runs it as a formula (OWASP CSV injection guidance).

    A text that starts, after any spaces, tabs or line breaks, with = + - @ (or their full-width forms ＝ ＋ － ＠), or
    that starts with a TAB, CR or LF, gets a leading single quote (" =cmd" → "' =cmd", "@SUM(A1)" → "'@SUM(A1)"),
    which Excel and Sheets show as text. None becomes "". Exempt, and written exactly as given:

    - real numbers (int, float, Decimal): a number cannot carry a formula, and a balance of -5 should stay a number;
    - a text that is nothing but a signed number (``_SIGNED_NUMBER``): "+61 412 345 678" or "-5" as a person typed
      it. Any other character after the sign ("-2+3", "+A1", "-1)*cmd|", "+61-412", a leading space, a full-width
      sign or digit) keeps the quote.
    """
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if not text:
        return text
    first = text.lstrip(_SKIPPED)[:1]
    if text[0] in "\t\r\n" or first in _FORMULA_STARTS:
        if _SIGNED_NUMBER.fullmatch(text):
            return text
        return "'" + text
    return text


class SafeWriter:
    """A csv.writer (QUOTE_MINIMAL, CRLF line ends as Excel expects) that passes every cell through safe_cell."""

    def __init__(self, file: IO[str]) -> None:
        self._writer = csv.writer(file, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> Any:
        """Write one row; returns what csv.writer.writerow returns."""
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write many rows."""
        writerow = self._writer.writerow
        for row in rows:
            writerow([safe_cell(value) for value in row])


def safe_writer(file: IO[str]) -> SafeWriter:
    """Wrap a text file (opened with newline="") in a writer that neutralises formula injection in every cell."""
    return SafeWriter(file)


def csv_bytes_iter(
    rows: Iterable[Iterable[object]], header: Iterable[object] | None = None, *, batch_size: int = 1000
) -> Iterator[bytes]:
    """Yield a safe CSV export as UTF-8 byte chunks for Django's StreamingHttpResponse.

    The first chunk starts with a UTF-8 BOM (so Excel shows accents right) and holds the header; after that each
    chunk holds ``batch_size`` rows, so a million-row export is a thousand writes rather than a million.
    """
    buffer = io.StringIO()
    writer = SafeWriter(buffer)

    def drain() -> bytes:
        # "replace" so a stray lone surrogate cannot abort a download half-way through.
        data = buffer.getvalue().encode("utf-8", errors="replace")
        buffer.seek(0)
        buffer.truncate(0)
        return data

    buffer.write("\ufeff")
    if header is not None:
        writer.writerow(header)
    yield drain()
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= batch_size:
            yield drain()
            pending = 0
    if pending:
        yield drain()
