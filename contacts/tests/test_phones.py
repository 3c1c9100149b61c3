"""Tests for contacts.phones: every way Australians write a number, and the fast path's equivalence to libphonenumber.

The equivalence tests compare ``normalize_phone`` with ``reference_normalize`` below, which always asks
libphonenumber. It is written independently of ``contacts.phones`` (it shares only the documented preprocessing
rules), so a fast-path bug cannot hide behind the production slow path it would share code with.
"""

from __future__ import annotations

import dataclasses
import random
import re
from decimal import Decimal, InvalidOperation

import phonenumbers
import pytest
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from contacts import phones
from contacts.phones import PHONE_ERRORS, NormalizedPhone, format_phone_national, normalize_phone, phone_digits_key

MOBILE = ("+61412345678", "AU", "mobile", True, None)
EMPTY = (None, None, None, False, "empty")
INVALID = (None, None, None, False, "invalid")


def fields(result: NormalizedPhone) -> tuple:
    """The result as a plain tuple, so cases and the reference compare field by field."""
    return dataclasses.astuple(result)


# --- The reference: always the full libphonenumber path --------------------------------------------------------------

_REF_SEPARATORS = re.compile(r"[\s\u200b\u2060\ufeff.\-()/\u2010-\u2015\u2212]")
_REF_SCIENTIFIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")
_REF_FLOAT = re.compile(r"\d+\.0")
_REF_PLAIN = re.compile(r"\+?[0-9]+")
_REF_AU_IDD = re.compile(PhoneMetadata.metadata_for_region("AU").international_prefix)
_REF_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}


def reference_normalize(raw: str, default_region: str = "AU") -> tuple:
    """The documented rules, then libphonenumber for every number: the answer the fast path must reproduce."""
    text = raw.strip()
    if text.startswith("'"):
        text = text[1:].strip()
    if text == "":
        return EMPTY
    if _REF_SCIENTIFIC.fullmatch(text):
        try:
            value = Decimal(text)
        except InvalidOperation:
            return INVALID
        if value < 0 or value != value.to_integral_value() or value.adjusted() > 19:
            return INVALID
        text = str(int(value))
    elif _REF_FLOAT.fullmatch(text):
        text = text[: -len(".0")]
    if default_region == "AU":
        compact = _REF_SEPARATORS.sub("", text)
        if _REF_PLAIN.fullmatch(compact):
            if compact.startswith("00"):
                idd = _REF_AU_IDD.match(compact)
                compact = "+" + compact[idd.end() if idd else 2 :]
            text = compact
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException:
        return INVALID
    if not phonenumbers.is_valid_number(number):
        return INVALID
    type_name = _REF_TYPE_NAMES[phonenumbers.number_type(number)]
    sms_capable = type_name in ("mobile", "fixed_line_or_mobile")
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(number),
        type_name,
        sms_capable,
        None if sms_capable else "not_mobile",
    )


# --- Formats ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "0412 345 678",
        "0412345678",
        "0412.345.678",
        "0412-345-678",
        "0412\u2013345\u2013678",  # en dash, as word processors "correct" it
        "(0412) 345-678",
        "0412\u00a0345\u00a0678",  # no-break spaces from a web page or Word
        "  \t0412 345 678\n",
        "+61 412 345 678",
        "+61412345678",
        "+61-412-345-678",
        "+61 4 1234 5678",
        "(+61) 412 345 678",
        "61412345678",
        "61 412 345 678",
        "0061 412 345 678",
        "0061412345678",
        "0011 61 412 345 678",
        "001161412345678",
        "0014 61 412 345 678",  # a carrier-specific Australian international prefix from the metadata
        "412345678",
        "412 345 678",
        "+61 (0) 412 345 678",
        "+61 (0)412 345 678",
        "+610412345678",
        "610412345678",
        "0061 (0) 412 345 678",
        "'+61412345678",
        "'+61 412 345 678",
        "'0412 345 678",
        "4.12345678E+8",
        "4.12345678e+08",
        "4.12345678E+08",
        "6.1412345678E+10",
        "412345678.0",
        "61412345678.0",
        "'412345678",
        # Text libphonenumber reads on its own: full-width digits, an extension (E.164 has no room for it).
        "\uff10\uff14\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
        "0412 345 678 ext 5",
    ],
)
def test_au_mobile_formats(raw: str) -> None:
    assert fields(normalize_phone(raw)) == MOBILE
    assert reference_normalize(raw) == MOBILE


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        # Excel rounded the mantissa: the value is the integer it now denotes, a different number. No guessing.
        ("4.1234568E+8", "+61412345680"),
        ("6.14123457E+10", "+61412345700"),
    ],
)
def test_excel_lost_digits_give_the_number_denoted(raw: str, e164: str) -> None:
    assert fields(normalize_phone(raw)) == (e164, "AU", "mobile", True, None)


@pytest.mark.parametrize("raw", ["", "   ", "\u00a0", "\t\n", "'", " ' "])
def test_empty(raw: str) -> None:
    assert fields(normalize_phone(raw)) == EMPTY


@pytest.mark.parametrize(
    "raw",
    [
        "n/a",
        "abc",
        "12",
        "+",
        "()",
        "-",
        "0412 345 67",  # too short
        "0412 345 6789",  # too long
        "+61 412 345 67",
        "+61 412 345 678 9",
        "0000 000 000",
        "0441 234 567",  # unallocated mobile range
        "4.1E-3",  # not an integer
        "-4.12345678E+8",
        "1E+99999999999999999999",  # beyond Decimal's exponent range
        "4.12345678E+30",  # an integer far too long for a phone number
        "+44 7700 900123",  # Ofcom's drama range: libphonenumber rejects it
        "0412 345 678 / 0413 345 678",  # two numbers in one cell
    ],
)
def test_invalid(raw: str) -> None:
    assert fields(normalize_phone(raw)) == INVALID
    assert reference_normalize(raw) == INVALID


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("02 9374 4000", ("+61293744000", "AU", "fixed_line", False, "not_mobile")),
        ("(03) 9123 4567", ("+61391234567", "AU", "fixed_line", False, "not_mobile")),
        ("+61 2 9374 4000", ("+61293744000", "AU", "fixed_line", False, "not_mobile")),
        ("293744000", ("+61293744000", "AU", "fixed_line", False, "not_mobile")),
        # Christmas Island and Cocos share +61 and the 08 area code; libphonenumber tells them apart.
        ("+61 8 9164 1234", ("+61891641234", "CX", "fixed_line", False, "not_mobile")),
        ("08 9164 1234", ("+61891641234", "CX", "fixed_line", False, "not_mobile")),
        ("+61 8 9162 1234", ("+61891621234", "CC", "fixed_line", False, "not_mobile")),
        ("08 9162 1234", ("+61891621234", "CC", "fixed_line", False, "not_mobile")),
        ("+44 20 7946 0018", ("+442079460018", "GB", "fixed_line", False, "not_mobile")),
    ],
)
def test_landlines_are_valid_but_not_mobile(raw: str, expected: tuple) -> None:
    assert fields(normalize_phone(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13 13 13", "+61131313"),
        ("131313", "+61131313"),
        ("1300 655 506", "+611300655506"),
        ("1800 801 920", "+611800801920"),
        ("1900 123 456", "+611900123456"),
        ("+61 1300 655 506", "+611300655506"),
    ],
)
def test_service_numbers_are_not_mobile(raw: str, e164: str) -> None:
    result = normalize_phone(raw)
    assert result.error == "not_mobile"
    assert result.sms_capable is False
    assert result.e164 == e164
    assert result.region == "AU"
    assert result.number_type not in (None, "mobile", "fixed_line_or_mobile")
    assert not result.ok


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+64 21 123 4567", ("+64211234567", "NZ", "mobile", True, None)),
        ("0064 21 123 4567", ("+64211234567", "NZ", "mobile", True, None)),
        ("+44 7400 123456", ("+447400123456", "GB", "mobile", True, None)),
        ("+44 (0) 7400 123456", ("+447400123456", "GB", "mobile", True, None)),
        ("0011 44 7400 123456", ("+447400123456", "GB", "mobile", True, None)),
        # +44 7911 is a Guernsey range: libphonenumber says GG, not GB.
        ("+44 7911 123456", ("+447911123456", "GG", "mobile", True, None)),
        ("+65 9123 4567", ("+6591234567", "SG", "mobile", True, None)),
        # North American numbers do not say which they are; they count as SMS-capable.
        ("+1 650 253 0000", ("+16502530000", "US", "fixed_line_or_mobile", True, None)),
    ],
)
def test_foreign_numbers(raw: str, expected: tuple) -> None:
    assert fields(normalize_phone(raw)) == expected


def test_default_region_reads_national_numbers_of_that_region() -> None:
    assert fields(normalize_phone("021 123 4567", default_region="NZ")) == (
        "+64211234567",
        "NZ",
        "mobile",
        True,
        None,
    )
    assert normalize_phone("07400 123456", default_region="GB").e164 == "+447400123456"
    assert fields(normalize_phone("+61 412 345 678", default_region="NZ")) == MOBILE
    assert fields(normalize_phone("'  ", default_region="NZ")) == EMPTY


def test_unknown_default_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Unknown phone region"):
        normalize_phone("0412 345 678", default_region="XX")


def test_ok_and_error_codes() -> None:
    assert PHONE_ERRORS == ("empty", "invalid", "not_mobile")
    assert normalize_phone("0412 345 678").ok
    assert not normalize_phone("02 9374 4000").ok
    assert not normalize_phone("").ok
    assert {normalize_phone(raw).error for raw in ("", "abc", "02 9374 4000")} == set(PHONE_ERRORS)


def test_result_is_frozen() -> None:
    result = normalize_phone("0412 345 678")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.e164 = "+61400000000"  # type: ignore[misc]


def test_type_names_cover_every_libphonenumber_type() -> None:
    names = {
        "mobile",
        "fixed_line",
        "fixed_line_or_mobile",
        "toll_free",
        "premium_rate",
        "shared_cost",
        "voip",
        "personal_number",
        "pager",
        "uan",
        "voicemail",
        "unknown",
    }
    assert set(phones._TYPE_NAMES.values()) == names
    assert phones._TYPE_NAMES == _REF_TYPE_NAMES


# --- Unallocated ranges, CX/CC ---------------------------------------------------------------------------------------


def _unallocated_04_prefixes() -> list[str]:
    """Three-digit NSN prefixes 4XY that the AU mobile pattern rejects whatever follows (from the metadata itself)."""
    pattern = re.compile(PhoneMetadata.metadata_for_region("AU").mobile.national_number_pattern)
    return [
        prefix
        for prefix in (f"4{block:02d}" for block in range(100))
        if not any(pattern.fullmatch(f"{prefix}{tail:02d}{rest}") for tail in range(100) for rest in ("0000", "9999"))
    ]


def test_unallocated_04_ranges_are_invalid() -> None:
    unallocated = _unallocated_04_prefixes()
    assert "441" in unallocated  # 0441 has never been allocated
    for prefix in unallocated:
        raw = f"0{prefix} 123 456"
        assert fields(normalize_phone(raw)) == INVALID, raw
        assert not phonenumbers.is_valid_number(phonenumbers.parse(raw, "AU")), raw


def test_partly_allocated_04_blocks_follow_the_metadata() -> None:
    # 0479 0/1 are allocated but not 0479 2+; 0496 0-4 but not 0496 5+.
    assert normalize_phone("0479 012 345").ok
    assert fields(normalize_phone("0479 212 345")) == INVALID
    assert normalize_phone("0496 412 345").ok
    assert fields(normalize_phone("0496 512 345")) == INVALID


def test_every_04_block_reports_libphonenumbers_region() -> None:
    """CC and CX list exactly AU's mobile pattern, so a 04 number is "valid" for all three; AU is reported first."""
    rng = random.Random(404)
    cx_cc_mobile_too = 0
    for block in range(1000):
        for _ in range(3):
            nsn = f"4{block:03d}{rng.randrange(100_000):05d}"
            raw = "0" + nsn
            assert fields(normalize_phone(raw)) == reference_normalize(raw), raw
            number = phonenumbers.parse("+61" + nsn)
            if phonenumbers.is_valid_number(number):
                assert phonenumbers.region_code_for_number(number) == "AU", raw
                cx_cc_mobile_too += phonenumbers.is_valid_number_for_region(number, "CX")
                cx_cc_mobile_too += phonenumbers.is_valid_number_for_region(number, "CC")
    assert cx_cc_mobile_too > 0  # the overlap is real, which is why region order matters


def test_fast_path_is_enabled() -> None:
    assert phones._FAST_PATH_ENABLED
    assert phonenumbers.COUNTRY_CODE_TO_REGION_CODE[61][0] == "AU"


@pytest.mark.parametrize(
    "raw",
    ["0412 345 678", "+61412345678", "61412345678", "412345678", "0011 61 412 345 678", "'+61 (0) 412 345 678"],
)
def test_fast_path_does_not_parse(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("phonenumbers.parse called on the fast path")

    monkeypatch.setattr(phonenumbers, "parse", no_parse)
    assert fields(normalize_phone(raw)) == MOBILE


# --- Equivalence with the full path ----------------------------------------------------------------------------------

_WHITESPACE = [chr(code) for code in range(0x3001) if chr(code).isspace()]
_COMMON_SEPARATORS = [" ", " ", " ", "", ".", "-"]
_RARE_SEPARATORS = ["\u00a0", "\u2013", "/", "\u200b", *_WHITESPACE]
_COMMON_PREFIXES = ["0", "0", "0", "", "+61", "+61", "+610", "61", "610", "0061", "00610", "0011 61", "0011610"]
_RARE_PREFIXES = ["0014 61", "0019 61", "+64", "0064", "+44", "1", "00", "0011", "+", "+6", "6", "06", "0061 0 0"]


def _random_nsn(rng: random.Random) -> str:
    """A national significant number: mostly 04 mobiles across every block, plus everything around them."""
    kind = rng.random()
    if kind < 0.5:
        return f"4{rng.randrange(100):02d}{rng.randrange(1_000_000):06d}"
    if kind < 0.6:  # the partly allocated blocks, digit by digit
        return f"4{rng.choice(['79', '83', '95', '96'])}{rng.randrange(10)}{rng.randrange(100_000):05d}"
    if kind < 0.7:
        return f"{rng.randrange(1, 10)}{rng.randrange(100_000_000):08d}"
    if kind < 0.75:
        return rng.choice(["4", "04", "8"]) + "".join(rng.choice("0123456789") for _ in range(rng.choice([7, 8, 10])))
    if kind < 0.8:
        return rng.choice(["131313", "1300655506", "1800801920", "1900123456", "13" + str(rng.randrange(1000, 9999))])
    if kind < 0.85:
        return f"891{rng.choice(['62', '64'])}{rng.randrange(10_000):04d}"
    return "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 16)))


def _punctuate(rng: random.Random, digits: str) -> str:
    """Break ``digits`` up the ways people do, sometimes bracketing the first group."""
    out = []
    for position, char in enumerate(digits):
        out.append(char)
        if position < len(digits) - 1 and rng.random() < 0.25:
            out.append(rng.choice(_COMMON_SEPARATORS if rng.random() < 0.85 else _RARE_SEPARATORS))
    text = "".join(out)
    if rng.random() < 0.1:
        cut = rng.randrange(1, len(text) + 1)
        text = f"({text[:cut]}) {text[cut:]}"
    return text


def _excel(rng: random.Random, digits: str) -> str:
    """What Excel shows for a number it stored as a float: leading zeros gone, then E notation or a ".0"."""
    value = str(int(digits))
    if rng.random() < 0.3 or len(value) < 2:
        return value + ".0"
    kept = rng.randrange(1, len(value) + 1)  # how many significant digits survived
    exponent = len(value) - 1
    exp_text = f"{exponent:02d}" if rng.random() < 0.5 else str(exponent)
    return f"{value[0]}.{value[1:kept]}{rng.choice('Ee')}+{exp_text}"


def _random_input(rng: random.Random) -> str:
    if rng.random() < 0.01:
        return rng.choice(["", "'", " ' ", *_WHITESPACE])
    prefix = rng.choice(_COMMON_PREFIXES if rng.random() < 0.8 else _RARE_PREFIXES)
    nsn = _random_nsn(rng)
    roll = rng.random()
    if roll < 0.1 and "+" not in prefix:
        text = _excel(rng, prefix.replace(" ", "") + nsn)
    else:
        text = _punctuate(rng, prefix + nsn)
    roll = rng.random()
    if roll < 0.05:
        text = "'" + text
    elif roll < 0.08:
        text = rng.choice(["ext 12", " x3", "abc", "+", "mob: "]) + text
    elif roll < 0.11:
        text += rng.choice([" ext 12", "x", "abc", "+1", "\u0661"])
    elif roll < 0.13:
        cut = rng.randrange(len(text) + 1)
        text = text[:cut] + rng.choice(["+", "e", ".", "(0)", "-"]) + text[cut:]
    if rng.random() < 0.1:
        text = rng.choice(_WHITESPACE) + text + rng.choice(_WHITESPACE)
    return text


def test_fast_path_matches_full_libphonenumber(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20240601)
    parse_calls = 0
    real_parse = phonenumbers.parse

    def counting_parse(*args: object, **kwargs: object) -> phonenumbers.PhoneNumber:
        nonlocal parse_calls
        parse_calls += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    fast_hits = 0
    outcomes: set[str | None] = set()
    for _ in range(30_000):
        raw = _random_input(rng)
        expected = reference_normalize(raw)
        before = parse_calls
        result = fields(normalize_phone(raw))
        if parse_calls == before and result[4] is None:
            fast_hits += 1
            assert result[:3] == (result[0], "AU", "mobile"), raw
        assert result == expected, raw
        assert fields(phones._normalize_slow(raw)) == expected, raw
        outcomes.add(result[4])
    # The generated inputs exercise the fast path heavily and reach every outcome.
    assert fast_hits > 8_000
    assert outcomes == {None, *PHONE_ERRORS}


def test_equivalence_covers_every_04_prefix_and_format() -> None:
    rng = random.Random(61)
    formats = [
        "0{nsn}",
        "{nsn}",
        "+61{nsn}",
        "+61 (0) {nsn}",
        "61{nsn}",
        "610{nsn}",
        "0061 {nsn}",
        "0011 61 {nsn}",
        "'+61{nsn}",
        "({nsn4}) {rest}",
    ]
    for block in range(100):
        for template in formats:
            nsn = f"4{block:02d}{rng.randrange(1_000_000):06d}"
            raw = template.format(nsn=nsn, nsn4="0" + nsn[:3], rest=nsn[3:])
            assert fields(normalize_phone(raw)) == reference_normalize(raw), raw


# --- Keys and display ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "key"),
    [("+61412345678", 61412345678), ("+64211234567", 64211234567), ("+611300655506", 611300655506)],
)
def test_phone_digits_key(e164: str, key: int) -> None:
    assert phone_digits_key(e164) == key


def test_phone_digits_key_round_trips_normalised_numbers() -> None:
    for raw in ("0412 345 678", "+64 21 123 4567", "13 13 13"):
        e164 = normalize_phone(raw).e164
        assert e164 is not None
        assert f"+{phone_digits_key(e164)}" == e164


@pytest.mark.parametrize(
    "bad", ["", "+", "0412345678", "61412345678", "+61 412 345 678", "+0412345678", "+1234567890123456"]
)
def test_phone_digits_key_rejects_non_e164(bad: str) -> None:
    with pytest.raises(ValueError, match="Not an E.164 number"):
        phone_digits_key(bad)


@pytest.mark.parametrize(
    ("e164", "display"),
    [
        ("+61412345678", "0412 345 678"),
        ("+61293744000", "(02) 9374 4000"),
        ("+611300655506", "1300 655 506"),
        ("+61131313", "13 13 13"),
        ("+61891641234", "(08) 9164 1234"),  # Christmas Island: dialled from the mainland like any 08 number
        ("+64211234567", "+64 21 123 4567"),
        ("+447400123456", "+44 7400 123456"),
        ("+16502530000", "+1 650-253-0000"),
    ],
)
def test_format_phone_national(e164: str, display: str) -> None:
    assert format_phone_national(e164) == display


def test_format_phone_national_rejects_text_without_country_code() -> None:
    with pytest.raises(ValueError, match="Not an E.164 number"):
        format_phone_national("0412 345 678")
