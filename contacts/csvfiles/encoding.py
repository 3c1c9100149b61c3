"""Read an uploaded file's bytes once: its sha256, its size and its encoding, refusing what is not text.

Staff upload CSV files in whatever encoding the exporting program chose; the encoding is settled over the whole
file here (:func:`_hash_and_detect_encoding`), and :data:`DECODE_ERRORS` says how every later read decodes it.
"""

from __future__ import annotations

import codecs
import hashlib
import os

from contacts.csvfiles.errors import CsvFileError, format_size

StrPath = str | os.PathLike[str]

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough that hashing 200 MB is ~200 reads, small enough to keep memory flat.

# Decoding errors never abort an import: an undefined cp1252 byte (0x81 0x8D 0x8F 0x90 0x9D), an odd trailing byte
# in UTF-16 or a file that changed after inspection becomes U+FFFD in that one cell instead of a crash at row 900,000.
DECODE_ERRORS = "replace"

_SAVE_AS_CSV = "in Excel use File › Save As › CSV UTF-8."


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
