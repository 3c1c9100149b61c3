"""Write CSV exports safely: every cell is defused so a spreadsheet never runs it as a formula.

:func:`safe_cell`, :func:`safe_writer` and :func:`csv_bytes_iter` neutralise spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

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
