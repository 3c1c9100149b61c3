"""Inspect an uploaded file before anything is imported: encoding, delimiter, header and a few sample rows.

:func:`inspect_file` rejects what is not a CSV with a message fit to show the user (:class:`CsvFileError`) and
returns a :class:`FileInfo` whose ``encoding`` and ``delimiter`` :func:`open_rows` then streams the rows with.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from itertools import islice

from contacts.csvfiles.encoding import DECODE_ERRORS, StrPath, _hash_and_detect_encoding
from contacts.csvfiles.errors import CsvFileError
from contacts.csvfiles.streaming import MAX_COLUMNS, _data_rows, _is_blank, _make_reader, _open_text, _read_header

SNIFF_CHARS = 64 * 1024  # Enough lines for a delimiter vote without making Sniffer's regexes slow.
SAMPLE_ROWS = 5
DELIMITERS = (",", ";", "\t", "|")
DEFAULT_DELIMITER = ","  # A single-column file (just phone numbers) has no delimiter at all; "," is harmless.


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
