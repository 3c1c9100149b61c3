"""Tests for contacts.csvfiles: reading real-world CSV uploads robustly, mapping headers, writing exports safely.

Pure file tests (tmp_path, no database): the module must work the same from a view, a command and a Celery task.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import random
from pathlib import Path

import pytest

from contacts.csvfiles import (
    FIELDS,
    SYNONYMS,
    CsvFileError,
    FileInfo,
    auto_map,
    count_rows,
    csv_bytes_iter,
    format_size,
    inspect_file,
    normalize_header,
    open_rows,
    safe_cell,
    safe_writer,
)

MB = 1024 * 1024
LIMIT = 200 * MB


def write(tmp_path: Path, data: bytes, name: str = "upload.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path: Path, info: FileInfo) -> list[tuple[int, list[str]]]:
    """Every (row number, fields) open_rows yields, dropping the byte offset."""
    with open_rows(path, encoding=info.encoding, delimiter=info.delimiter) as rows:
        return [(number, fields) for number, fields, _ in rows]


def inspect_error(path: Path, max_bytes: int = LIMIT) -> str:
    with pytest.raises(CsvFileError) as excinfo:
        inspect_file(path, max_bytes=max_bytes)
    return str(excinfo.value)


# --- encodings -------------------------------------------------------------------------------------------------------


def test_utf8_without_bom(tmp_path):
    path = write(tmp_path, "Name,Phone\nJosé Núñez,0412 345 678\n".encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "utf-8"
    assert info.delimiter == ","
    assert info.headers == ["Name", "Phone"]
    assert info.sample_rows == [["José Núñez", "0412 345 678"]]
    assert read_all(path, info) == [(1, ["José Núñez", "0412 345 678"])]


def test_utf8_with_bom_drops_the_bom_from_the_first_header(tmp_path):
    path = write(tmp_path, codecs.BOM_UTF8 + "Phone,Name\r\n0412345678,Zoë\r\n".encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "utf-8-sig"
    assert info.headers == ["Phone", "Name"]
    assert read_all(path, info) == [(1, ["0412345678", "Zoë"])]


def test_excel_unicode_text_is_utf16_le_with_bom_and_tabs(tmp_path):
    text = "First Name\tLast Name\tMobile\r\nRenée\tO'Brien\t0412 345 678\r\n李\t王\t0413 000 111\r\n"
    path = write(tmp_path, codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "utf-16"
    assert info.delimiter == "\t"
    assert info.headers == ["First Name", "Last Name", "Mobile"]
    assert read_all(path, info) == [
        (1, ["Renée", "O'Brien", "0412 345 678"]),
        (2, ["李", "王", "0413 000 111"]),
    ]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_detected_from_the_nul_pattern(tmp_path, codec):
    path = write(tmp_path, "Name,Mobile\r\nChloé,0412345678\r\n".encode(codec))
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == codec
    assert info.headers == ["Name", "Mobile"]
    assert read_all(path, info) == [(1, ["Chloé", "0412345678"])]


def test_windows_1252(tmp_path):
    data = "Name,Note\r\nRenée,it’s fine\r\n".encode("cp1252")
    assert b"\xe9" in data and b"\x92" in data
    path = write(tmp_path, data)
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "cp1252"
    assert read_all(path, info) == [(1, ["Renée", "it’s fine"])]


def test_windows_1252_byte_only_at_the_end_of_a_large_file(tmp_path):
    """The detector must read the whole file: the only non-ASCII byte sits after 2 MiB of ASCII."""
    lines = [f"Customer {i},04{i:08d}\r\n" for i in range(120_000)]
    data = ("Name,Phone\r\n" + "".join(lines)).encode("ascii") + "Zoë,0499999999\r\n".encode("cp1252")
    assert len(data) > 2 * MB
    path = write(tmp_path, data)
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "cp1252"
    rows = read_all(path, info)
    assert len(rows) == 120_001
    assert rows[-1] == (120_001, ["Zoë", "0499999999"])


def test_utf8_character_split_across_read_chunks_is_still_utf8(tmp_path):
    """A multi-byte character straddling the 1 MiB chunk boundary must not be mistaken for cp1252."""
    head = b"Name,Phone\n"
    lines = b"Ann,0411\n" * ((MB - len(head)) // 9 - 1)
    filler = b"x" * (MB - len(head) - len(lines) - 1)  # puts the 2-byte "é" at offsets MB-1 and MB
    data = head + lines + filler + "é,0412345678\n".encode()
    assert data[MB - 1 : MB + 1] == "é".encode()
    path = write(tmp_path, data)
    assert inspect_file(path, max_bytes=LIMIT).encoding == "utf-8"


def test_undefined_cp1252_byte_does_not_crash(tmp_path):
    path = write(tmp_path, b"Name,Phone\r\nA\x81B,0412345678\r\nRen\xe9e,0413\r\n")
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "cp1252"
    assert read_all(path, info) == [(1, ["A\ufffdB", "0412345678"]), (2, ["Renée", "0413"])]


# --- delimiters and row structure -----------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, delimiter):
    d = delimiter
    # The data also holds the other candidates (quoted where they are the delimiter) to confuse a naive count.
    text = (
        f"Name{d}Phone{d}Note{d}Amount\r\n"
        f'"Smith, Jo"{d}0412345678{d}"a;b|c\td"{d}"1,5"\r\n'
        f'Lee{d}0413000111{d}"x, y; z"{d}2\r\n'
    )
    path = write(tmp_path, text.encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.delimiter == d
    assert info.headers == ["Name", "Phone", "Note", "Amount"]
    assert read_all(path, info) == [
        (1, ["Smith, Jo", "0412345678", "a;b|c\td", "1,5"]),
        (2, ["Lee", "0413000111", "x, y; z", "2"]),
    ]


def test_semicolon_file_with_unquoted_decimal_commas(tmp_path):
    """European Excel: ";" separates fields and "," is the decimal mark, unquoted, on every data line."""
    text = "Name;Amount;Phone\nA;1,5;0412345678\nB;2,25;0413\nC;3,0;0414\n"
    path = write(tmp_path, text.encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.delimiter == ";"
    assert info.sample_rows[0] == ["A", "1,5", "0412345678"]


def test_quoted_header_containing_the_other_delimiter(tmp_path):
    path = write(tmp_path, b'"Last, First";Mobile\n"Smith, J";0412345678\n')
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.delimiter == ";"
    assert info.headers == ["Last, First", "Mobile"]


def test_single_column_file_of_phones(tmp_path):
    path = write(tmp_path, b"Phone\n0412345678\n+61 413 000 111\n")
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.delimiter == ","
    assert info.headers == ["Phone"]
    assert read_all(path, info) == [(1, ["0412345678"]), (2, ["+61 413 000 111"])]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quoted_fields_with_newlines_keep_row_numbers_right(tmp_path, newline):
    nl = newline
    text = f'Name,Note,Phone{nl}Ann,plain,0411{nl}Bob,"two{nl}lines, with comma",0412{nl}Cat,"say ""hi""",0413{nl}'
    path = write(tmp_path, text.encode())
    info = inspect_file(path, max_bytes=LIMIT)
    rows = read_all(path, info)
    assert [number for number, _ in rows] == [1, 2, 3]
    assert rows[1][1] == ["Bob", f"two{nl}lines, with comma", "0412"]
    assert rows[2][1] == ["Cat", 'say "hi"', "0413"]
    assert count_rows(path, encoding=info.encoding, delimiter=info.delimiter) == 3


def test_blank_lines_are_skipped_and_not_counted(tmp_path):
    text = "\n\r\n  \nName,Phone\n\nAnn,0411\n,\n   \n\r\nBob,0412\n,,\n"
    path = write(tmp_path, text.encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.headers == ["Name", "Phone"]
    assert info.sample_rows == [["Ann", "0411"], ["Bob", "0412"]]
    assert read_all(path, info) == [(1, ["Ann", "0411"]), (2, ["Bob", "0412"])]


def test_row_with_empty_first_cell_is_not_blank(tmp_path):
    path = write(tmp_path, b"Name,Phone\n,0412345678\n")
    info = inspect_file(path, max_bytes=LIMIT)
    assert read_all(path, info) == [(1, ["", "0412345678"])]


def test_short_rows_are_padded_and_long_rows_keep_extra_cells(tmp_path):
    path = write(tmp_path, b"Name,Phone,Email\nAnn\nBob,0412\nCat,0413,c@example.com,extra\n")
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.sample_rows[0] == ["Ann", "", ""]
    assert read_all(path, info) == [
        (1, ["Ann", "", ""]),
        (2, ["Bob", "0412", ""]),
        (3, ["Cat", "0413", "c@example.com", "extra"]),
    ]


def test_header_only_file_has_no_rows(tmp_path):
    path = write(tmp_path, b"Name,Phone\r\n")
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.headers == ["Name", "Phone"]
    assert info.sample_rows == []
    assert read_all(path, info) == []


def test_sample_rows_are_at_most_five(tmp_path):
    path = write(tmp_path, ("Phone\n" + "".join(f"04{i:08d}\n" for i in range(20))).encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.sample_rows == [[f"04{i:08d}"] for i in range(5)]


def test_duplicate_and_empty_headers_are_made_unique(tmp_path):
    path = write(tmp_path, "\ufeff Phone ,,Phone,Name,phone,Column 6,\n1,2,3,4,5,6,7\n".encode())
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.headers == ["Phone", "Column 2", "Phone (2)", "Name", "phone (3)", "Column 6", "Column 7"]
    assert len({h.casefold() for h in info.headers}) == len(info.headers)


def test_generated_header_name_avoids_an_existing_one(tmp_path):
    path = write(tmp_path, b",Column 1\n1,2\n")
    assert inspect_file(path, max_bytes=LIMIT).headers == ["Column 1 (2)", "Column 1"]


def test_byte_offsets_grow_to_the_file_size(tmp_path):
    data = ("Name,Phone\n" + "".join(f"Person {i},04{i:08d}\n" for i in range(200_000))).encode()
    path = write(tmp_path, data)
    info = inspect_file(path, max_bytes=LIMIT)
    offsets = []
    with open_rows(path, encoding=info.encoding, delimiter=info.delimiter) as rows:
        for _, _, offset in rows:
            offsets.append(offset)
    assert offsets == sorted(offsets)
    assert 0 < offsets[0] < info.size
    assert offsets[-1] == info.size


def test_sha256_and_size_match_hashlib(tmp_path):
    data = ("Name,Phone\n" + "".join(f"P{i},04{i:08d}\n" for i in range(100_000))).encode()
    path = write(tmp_path, data)
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)


def test_accepts_path_strings(tmp_path):
    path = write(tmp_path, b"Phone\n0412345678\n")
    info = inspect_file(str(path), max_bytes=LIMIT)
    assert read_all(str(path), info) == [(1, ["0412345678"])]


def test_unclosed_quote_in_the_first_rows_is_rejected_by_inspection(tmp_path):
    path = write(tmp_path, b'Name,Phone\nAnn,0411\n"Bob,0412\n' + b"Cat,0413\n" * 20_000)
    assert inspect_error(path).startswith('Row 2 could not be read: a cell starts with a double quote (")')


def test_unclosed_quote_found_while_importing_names_the_row(tmp_path):
    good = b"".join(b"P%d,04%08d\n" % (i, i) for i in range(10))
    path = write(tmp_path, b"Name,Phone\n" + good + b'"Bob,0412\n' + b"Cat,0413\n" * 20_000)
    info = inspect_file(path, max_bytes=LIMIT)  # the sample rows are fine; the broken row comes later
    with pytest.raises(CsvFileError, match=r"^Row 11 could not be read"):
        read_all(path, info)


# --- rejected files -------------------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    assert inspect_error(write(tmp_path, b"")) == "The file is empty."


@pytest.mark.parametrize("data", [b" \n\t\r\n  \n", codecs.BOM_UTF8, b",,,\r\n,,\r\n"])
def test_only_blank_lines(tmp_path, data):
    message = inspect_error(write(tmp_path, data))
    assert message == "The file contains only blank lines: there is no header row with column names."


def test_over_size_is_rejected_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(250 * MB)  # sparse: the size check must not need to read it
    assert inspect_error(path) == "The file is 250.0 MB; the limit is 200 MB."


def test_just_over_the_limit_is_not_shown_as_equal(tmp_path):
    path = write(tmp_path, b"Phone\n" + b"0" * 2000)
    assert inspect_error(path, max_bytes=2000) == "The file is 1.96 KB; the limit is 2 KB."


def test_xlsx(tmp_path):
    message = inspect_error(write(tmp_path, b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "contacts.xlsx"))
    assert message == ("This is an Excel workbook (.xlsx), not a CSV: in Excel use File › Save As › CSV UTF-8.")


def test_old_xls(tmp_path):
    message = inspect_error(write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)))
    assert message.startswith("This is an old Excel workbook (.xls), not a CSV")
    assert "Save As" in message


def test_pdf(tmp_path):
    message = inspect_error(write(tmp_path, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"))
    assert message.startswith("This is not a text file")
    assert "PDF" in message


def test_random_binary(tmp_path):
    message = inspect_error(write(tmp_path, random.Random(42).randbytes(4096)))
    assert message.startswith("This is not a text file")


def test_nul_deep_inside_an_otherwise_text_file(tmp_path):
    data = b"Name,Phone\n" + b"Ann,0411\n" * 300_000 + b"\x00\x00\x00\n"
    assert inspect_error(write(tmp_path, data)).startswith("This is not a text file")


def test_format_size():
    assert format_size(0) == "0 bytes"
    assert format_size(1) == "1 byte"
    assert format_size(1536) == "1.5 KB"
    assert format_size(250 * MB) == "250.0 MB"
    assert format_size(3 * 1024 * MB) == "3.0 GB"


# --- header auto-mapping --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("E-mail 1 - Value", "email1value"), ("Téléphone", "telephone"), (" First_Name ", "firstname"), ("--", "")],
)
def test_normalize_header(name, expected):
    assert normalize_header(name) == expected


def test_auto_map_google_contacts():
    headers = ["Name", "Given Name", "Family Name", "Phone 1 - Type", "Phone 1 - Value", "E-mail 1 - Value"]
    assert auto_map(headers) == {
        "Name": "full_name",
        "Given Name": "first_name",
        "Family Name": "last_name",
        "Phone 1 - Value": "phone",
        "E-mail 1 - Value": "email",
    }


def test_auto_map_shopify_customers():
    headers = [
        "First Name",
        "Last Name",
        "Email",
        "Accepts Email Marketing",
        "Default Address Phone",
        "Phone",
        "Accepts SMS Marketing",
        "Tags",
    ]
    assert auto_map(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone": "phone",
        "Accepts SMS Marketing": "consent_kind",
        "Tags": "tags",
    }


def test_auto_map_hubspot_prefers_mobile():
    headers = ["First Name", "Last Name", "Email", "Mobile Phone Number", "Phone Number"]
    assert auto_map(headers) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Mobile Phone Number": "phone",
    }


def test_auto_map_mailchimp():
    headers = ["Email Address", "First Name", "Last Name", "Phone Number", "TAGS", "OPTIN_TIME", "OPTIN_IP"]
    assert auto_map(headers) == {
        "Email Address": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Phone Number": "phone",
        "TAGS": "tags",
        "OPTIN_TIME": "consent_date",
        "OPTIN_IP": "consent_evidence",
    }


def test_auto_map_pos_export():
    assert auto_map(["Customer Name", "Mobile", "Postcode"]) == {
        "Customer Name": "full_name",
        "Mobile": "phone",
        "Postcode": "postcode",
    }


def test_auto_map_mobile_beats_phone_whatever_the_column_order():
    assert auto_map(["Phone", "Mobile"]) == {"Mobile": "phone"}
    assert auto_map(["Telephone", "Cell Phone"]) == {"Cell Phone": "phone"}


def test_auto_map_each_field_once_first_column_wins():
    assert auto_map(["Email", "E-mail", "email"]) == {"Email": "email"}


def test_auto_map_consent_and_location_fields():
    headers = ["Time Zone", "State/Province", "Post Code", "Opt-in Source", "Consent Date", "Opt-in URL", "SMS Consent"]
    assert auto_map(headers) == {
        "Time Zone": "timezone",
        "State/Province": "state",
        "Post Code": "postcode",
        "Opt-in Source": "consent_source",
        "Consent Date": "consent_date",
        "Opt-in URL": "consent_evidence",
        "SMS Consent": "consent_kind",
    }


def test_auto_map_substring_fallback_and_its_blockers():
    assert auto_map(["Customer Mobile", "Billing Email", "Favourite Colour"]) == {
        "Customer Mobile": "phone",
        "Billing Email": "email",
    }
    # About consent or the type of a value, not the value itself.
    assert auto_map(["Email Subscribed", "Phone Type", "Accepts Email Marketing", "Created At"]) == {}


def test_synonyms_are_unambiguous_and_fields_cover_them():
    owners: dict[str, str] = {}
    for field, names in SYNONYMS.items():
        for name in names:
            norm = normalize_header(name)
            assert owners.setdefault(norm, field) == field, f"{name!r} belongs to {owners[norm]} and {field}"
    assert [name for name, _ in FIELDS] == list(SYNONYMS)
    assert all(label for _, label in FIELDS)


# --- safe export ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("-2+3", "'-2+3"),
        # A signed number as a person wrote it (a phone, a balance) is no formula and stays as written ...
        ("+61412345678", "+61412345678"),
        ("+61 412 345 678", "+61 412 345 678"),
        ("-5", "-5"),
        ("-12.50", "-12.50"),
        # ... but anything else after the sign is still neutralised.
        ("+61-412-345-678", "'+61-412-345-678"),
        ("+61 (0)412 345 678", "'+61 (0)412 345 678"),
        ("+A1", "'+A1"),
        ("-1)*cmd|' /C calc'!A0", "'-1)*cmd|' /C calc'!A0"),
        ("+61412345678+HYPERLINK(1)", "'+61412345678+HYPERLINK(1)"),
        ("+", "'+"),
        ("+ 61", "'+ 61"),
        ("+61 ", "'+61 "),
        ("+61\n=cmd", "'+61\n=cmd"),
        (" +61412345678", "' +61412345678"),
        ("＋61412345678", "'＋61412345678"),
        ("+６１", "'+６１"),
        ("@61", "'@61"),
        ("=61", "'=61"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\n=cmd", "'\n=cmd"),
        (" =HYPERLINK(1)", "' =HYPERLINK(1)"),
        ("\u3000@SUM(A1)", "'\u3000@SUM(A1)"),
        ("＝1+1", "'＝1+1"),
        ("＋1", "'＋1"),
        ("－1", "'－1"),
        ("＠x", "'＠x"),
        ("  plain text", "  plain text"),
        ("0412345678", "0412345678"),
        ("Renée O'Brien", "Renée O'Brien"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
        (-5, "-5"),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_safe_writer_escapes_every_cell_with_excel_line_ends():
    buffer = io.StringIO(newline="")
    writer = safe_writer(buffer)
    writer.writerow(['=HYPERLINK("http://x")', "+61412345678", None, "a, b"])
    writer.writerows([["ok", 1], ["@x", "-y"]])
    assert buffer.getvalue() == ('"\'=HYPERLINK(""http://x"")",+61412345678,,"a, b"\r\nok,1\r\n\'@x,\'-y\r\n')


def test_csv_bytes_iter_starts_with_bom_batches_and_parses_back():
    rows = [[f"Zoë {i}", f"+614{i:08d}", None] for i in range(2500)]
    chunks = list(csv_bytes_iter(rows, ["Name", "Phone", "Note"]))
    assert chunks[0].startswith(codecs.BOM_UTF8)
    assert len(chunks) == 4  # BOM + header, then 1000 + 1000 + 500 rows
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    parsed = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert parsed[0] == ["Name", "Phone", "Note"]
    assert parsed[1] == ["Zoë 0", "+61400000000", ""]
    assert len(parsed) == 2501
    assert b"".join(chunks).count(b"\r\n") == 2501


def test_csv_bytes_iter_round_trips_through_inspect_and_open_rows(tmp_path):
    data = b"".join(csv_bytes_iter([["Chloé", "multi\nline"], ["Li", "x"]], ["Name", "Note"]))
    path = write(tmp_path, data)
    info = inspect_file(path, max_bytes=LIMIT)
    assert info.encoding == "utf-8-sig"
    assert read_all(path, info) == [(1, ["Chloé", "multi\nline"]), (2, ["Li", "x"])]
