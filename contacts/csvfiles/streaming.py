"""Stream a CSV file's data rows: bounded lines, one csv dialect, blank rows skipped, progress in bytes.

:func:`open_rows` is what the importer reads with; :func:`inspect_file` (contacts.csvfiles.inspection) reads the
header and the sample rows through the same reader, so both see the file alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from contacts.csvfiles.encoding import CHUNK_SIZE, DECODE_ERRORS, StrPath
from contacts.csvfiles.errors import CsvFileError, format_size

# A contacts file has tens of columns; past this it is not one (and a mapping page for 100,000 columns would take a
# worker's memory). The importer's setting passes its own limit; this is the default.
MAX_COLUMNS = 500
# The longest physical line read, in characters: a real row is a few hundred; a 100 MB line would be parsed into a
# list of millions of cells before anything could look at it.
MAX_LINE_CHARS = 1 << 20


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
