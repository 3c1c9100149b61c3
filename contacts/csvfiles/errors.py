"""What every CSV reader here raises, and the size wording its messages use.

:class:`CsvFileError` carries a plain-words reason shown to the user verbatim; :func:`format_size` states a byte
count the way people read it (also used for the upload limit, contacts.uploads).
"""

from __future__ import annotations


class CsvFileError(ValueError):
    """The uploaded file cannot be read as CSV; ``str(error)`` is a plain-words reason shown to the user verbatim."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
