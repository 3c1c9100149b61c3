"""Phone number normalisation for imports and sending: any way people write a number in, E.164 out.

``normalize_phone`` turns what a person (or a spreadsheet) typed into a ``NormalizedPhone``: the E.164 form, the
region and number type that libphonenumber (the ``phonenumbers`` package) reports, whether the number can receive
an SMS, and an error code when it cannot be used. libphonenumber is the authority on what is valid; this module
only cleans up the ways real Australian data goes wrong before handing the text to it:

1. Surrounding whitespace (including no-break spaces) is dropped, then one leading apostrophe: our CSV exports
   prefix cells that start with ``+`` with ``'`` to stop spreadsheet formula injection, so re-imported numbers
   may carry it. Nothing left means ``"empty"``.
2. Excel damage is undone exactly: scientific notation (``"4.12345678E+8"``) becomes the integer it denotes via
   ``decimal.Decimal`` (a mantissa that lost digits denotes a different integer; we do not guess), and a float's
   trailing ``".0"`` (``"412345678.0"``) is dropped.
3. With the default region AU, text made only of digits, separators (whitespace, ``. - ( ) /``, Unicode dashes)
   and an optional leading ``+`` is reduced to its digits, and a leading international prefix becomes ``+``:
   Australia's (``0011``, and the other forms libphonenumber's AU metadata lists) or a bare ``00``. libphonenumber
   would read ``0061 4…`` as a national number and reject it, because ``00`` is not an Australian international
   prefix. Everything else libphonenumber already handles: ``61412345678`` (country code without the ``+``),
   ``412345678`` (Excel dropped the leading 0) and ``+61 (0) 412…`` (the trunk 0 after the country code).
   Any other text (letters, ``ext.``, full-width digits…) goes to libphonenumber untouched.

Fast path. A full ``phonenumbers.parse`` + ``is_valid_number`` + ``number_type`` + ``format_number`` costs roughly
40 µs per number, and an import may hold a million of them, nearly all Australian mobiles. For those, step 3's
digits already give the 9-digit national significant number (NSN) when they are one of ``4XXXXXXXX``,
``04XXXXXXXX``, ``614XXXXXXXX``, ``6104XXXXXXXX``, ``+614…``, ``+6104…`` (and ``+`` forms reached through an
international prefix). The NSN is then checked against the AU mobile pattern taken from phonenumbers' own
metadata, compiled once at import, so the answer is the one libphonenumber would give:

- ``is_valid_number`` is "the number type for its region is not UNKNOWN", and for a 9-digit NSN starting with 4
  the AU type checks that come before mobile (premium rate 190…, toll free 180…, shared cost 13…, VoIP 14…,
  pager 163…, fixed line 2/3/7/8…) cannot match, so matching the mobile pattern means type MOBILE, valid.
- The region: +61 is shared by AU, CC (Cocos) and CX (Christmas Island), whose mobile patterns are identical to
  AU's. ``region_code_for_number`` returns the first region of (AU, CC, CX) whose type is not UNKNOWN, and AU,
  the main country for +61, comes first, so every valid 04 number reports AU. The module refuses to enable the
  fast path if that order ever changes (``_FAST_PATH_ENABLED``), and the tests check the region of every 04xx
  block against libphonenumber.
- Anything the fast path does not recognise falls through to the full libphonenumber path (``_normalize_slow``
  is that path on its own), and the tests assert, over tens of thousands of generated inputs, that
  ``normalize_phone`` equals an independent implementation that always calls libphonenumber.

Nothing is cached per number: a million distinct numbers would only fill memory.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType

__all__ = [
    "PHONE_ERRORS",
    "SMS_CAPABLE_TYPES",
    "NormalizedPhone",
    "PhoneError",
    "format_phone_national",
    "normalize_phone",
    "phone_problem",
    "phone_digits_key",
]

PhoneError = Literal["empty", "invalid", "not_mobile"]
#: Every value ``NormalizedPhone.error`` can take besides None.
PHONE_ERRORS: Final[tuple[PhoneError, ...]] = ("empty", "invalid", "not_mobile")

#: libphonenumber's PhoneNumberType values by lower-case name ("mobile", "fixed_line", …, "unknown").
_TYPE_NAMES: Final[dict[int, str]] = {
    getattr(PhoneNumberType, name): name.lower() for name in dir(PhoneNumberType) if name.isupper()
}
#: Types an SMS can be delivered to. FIXED_LINE_OR_MOBILE is what libphonenumber says where it cannot tell the two
#: apart (the US, Canada, …): most of those numbers are mobiles, and refusing them would block whole countries.
SMS_CAPABLE_TYPES: Final[frozenset[str]] = frozenset({"mobile", "fixed_line_or_mobile"})


@dataclass(frozen=True, slots=True)
class NormalizedPhone:
    """The outcome of normalising one phone number.

    ``e164``, ``region`` and ``number_type`` are filled in for every valid number, including ones that cannot take an
    SMS (``error == "not_mobile"``), so callers can still show or store them; they are None for ``"empty"`` and
    ``"invalid"``.
    """

    e164: str | None
    region: str | None
    number_type: str | None
    sms_capable: bool
    error: PhoneError | None

    @property
    def ok(self) -> bool:
        """True when the number is valid and can receive an SMS."""
        return self.error is None


_EMPTY: Final = NormalizedPhone(None, None, None, False, "empty")
_INVALID: Final = NormalizedPhone(None, None, None, False, "invalid")

_AU_METADATA: Final = PhoneMetadata.metadata_for_region("AU")
#: Australia's international prefixes (0011 and the carrier-specific 0014…0019 and 14xx0011 forms).
_AU_IDD: Final = re.compile(_AU_METADATA.international_prefix)
#: The AU mobile national-number pattern, straight from libphonenumber's metadata so the fast path follows its updates.
_AU_MOBILE_NSN: Final = re.compile(_AU_METADATA.mobile.national_number_pattern)
#: The fast path answers "region AU" for numbers that +61's other regions (CC, CX) also list as mobile; that is only
#: libphonenumber's answer while AU is the first region tried for +61. If the metadata ever changes that, every
#: number takes the full path rather than get a wrong region.
_FAST_PATH_ENABLED: Final[bool] = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(61, ())[:1] == ("AU",)

# Separators people (and word processors, and web pages copied from) put inside numbers: every character Python's
# str.isspace() accepts, zero-width spaces and the BOM, ". - ( ) /" and the Unicode dashes. libphonenumber skips
# them all as well. Spelt out rather than found by scanning all of Unicode, which would cost ~50 ms per import.
_SEPARATORS: Final[dict[int, None]] = dict.fromkeys(
    map(
        ord,
        "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
        "\u200a\u2028\u2029\u202f\u205f\u3000\u200b\u2060\ufeff"
        ".-()/\u2010\u2011\u2012\u2013\u2014\u2015\u2212",
    )
)
# Excel's scientific notation for a long number: "4.12345678E+8", "6.1412345678E+10", "4.12345678e+08".
_EXCEL_SCIENTIFIC: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")
# A float's trailing ".0", exactly as Excel writes it. Only a single 0: a number written with dots never ends in a
# one-digit group, but could end in ".000".
_EXCEL_FLOAT: Final = re.compile(r"(\d+)\.0")
# No phone number has more digits than this (E.164 allows 15; an international prefix adds a few); it stops
# "1E+999999" from being expanded into a million-digit integer.
_MAX_EXCEL_DIGITS: Final = 20


def normalize_phone(raw: str, *, default_region: str = "AU") -> NormalizedPhone:
    """Normalise ``raw`` to E.164 and classify it, reading numbers without a ``+`` as ``default_region`` numbers.

    Australian mobiles written in any of the usual ways take a fast path that gives exactly the full
    libphonenumber answer without parsing (see the module docstring for why that is safe); everything else is
    parsed by libphonenumber.
    """
    text = _clean(raw)
    if isinstance(text, NormalizedPhone):
        return text
    if default_region != "AU":
        return _classify(text, _checked_region(default_region))
    plain = _au_plain_number(text)
    if plain is None:
        return _classify(text, "AU")
    if _FAST_PATH_ENABLED:
        nsn = _au_mobile_nsn(plain)
        if nsn is not None:
            return NormalizedPhone("+61" + nsn, "AU", "mobile", True, None)
    return _classify(plain, "AU")


def _normalize_slow(raw: str, *, default_region: str = "AU") -> NormalizedPhone:
    """``normalize_phone`` without the fast path: always asks libphonenumber. Kept for tests and comparisons."""
    text = _clean(raw)
    if isinstance(text, NormalizedPhone):
        return text
    if default_region != "AU":
        return _classify(text, _checked_region(default_region))
    plain = _au_plain_number(text)
    return _classify(text if plain is None else plain, "AU")


def _clean(raw: str) -> str | NormalizedPhone:
    """Apply steps 1 and 2 of the module docstring: whitespace, apostrophe and Excel damage.

    Returns the cleaned text, or the final result when the input is already known to be empty or invalid.
    """
    text = raw.strip()
    if text[:1] == "'":
        text = text[1:].strip()
    if not text:
        return _EMPTY
    # Cheap character tests first: nearly every number has neither, and the regexes cost more than these.
    if "e" in text or "E" in text:
        if _EXCEL_SCIENTIFIC.fullmatch(text):
            return _excel_scientific_to_digits(text)
    elif text[-2:] == ".0" and (match := _EXCEL_FLOAT.fullmatch(text)):
        return match[1]
    return text


def _excel_scientific_to_digits(text: str) -> str | NormalizedPhone:
    """Turn Excel's scientific notation into the digits of the exact integer it denotes, or "invalid" if none."""
    try:
        value = Decimal(text)
    except InvalidOperation:  # an exponent beyond what Decimal can hold
        return _INVALID
    if value < 0 or value.adjusted() >= _MAX_EXCEL_DIGITS or value != value.to_integral_value():
        return _INVALID
    return str(int(value))


def _au_plain_number(text: str) -> str | None:
    """Return digits-only text (with a leading ``+`` if international) for a plain number, else None.

    "Plain" means digits, separators and at least one digit, with a ``+`` (if any) only at the start. A leading
    Australian international prefix, or a bare ``00``, becomes ``+`` (step 3 of the module docstring).
    """
    compact = text.translate(_SEPARATORS)
    if compact[:1] == "+":
        digits = compact[1:]
        return compact if digits.isdigit() and digits.isascii() else None
    if not (compact.isdigit() and compact.isascii()):
        return None
    # No Australian national number starts with 00, so a leading 00 is always an international prefix: one of
    # Australia's own (0011, 0014, …, from the metadata) or the 00 most of the world uses.
    if compact[:2] == "00":
        match = _AU_IDD.match(compact)
        return "+" + compact[match.end() if match else 2 :]
    return compact


def _au_mobile_nsn(plain: str) -> str | None:
    """Return the 9-digit AU mobile national significant number ``plain`` denotes, or None if not (fast path)."""
    # Each shape below is one libphonenumber reads as the NSN that follows it (see the module docstring).
    length = len(plain)
    if plain[0] == "+":
        if plain[1:3] != "61":
            return None
        nsn = plain[3:] if length == 12 else plain[4:] if length == 13 and plain[3] == "0" else None
    elif length == 9:
        nsn = plain
    elif length == 10:
        nsn = plain[1:] if plain[0] == "0" else None
    elif length == 11:
        nsn = plain[2:] if plain[:2] == "61" else None
    elif length == 12:
        nsn = plain[3:] if plain[:3] == "610" else None
    else:
        return None
    if nsn is None or nsn[0] != "4" or not _AU_MOBILE_NSN.fullmatch(nsn):
        return None
    return nsn


def _classify(text: str, region: str) -> NormalizedPhone:
    """The full libphonenumber path: parse, validate, and report region, type and E.164."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return _INVALID
    if not phonenumbers.is_valid_number(number):
        return _INVALID
    number_type = _TYPE_NAMES[phonenumbers.number_type(number)]
    sms_capable = number_type in SMS_CAPABLE_TYPES
    return NormalizedPhone(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number),
        number_type=number_type,
        sms_capable=sms_capable,
        error=None if sms_capable else "not_mobile",
    )


@functools.lru_cache(maxsize=64)
def _checked_region(region: str) -> str:
    """Return ``region`` if libphonenumber knows it; a typo here is a programming error, so it raises."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"Unknown phone region {region!r}: expected an ISO 3166 code such as 'AU'.")
    return region


#: The first digit of an Australian national significant number, by what it is: 9 digits follow the trunk 0.
_AU_KINDS: Final[dict[str, str]] = {"2": "landline", "3": "landline", "7": "landline", "8": "landline", "4": "mobile"}


def phone_problem(raw: str, *, default_region: str = "AU") -> str:
    """Why ``raw`` is not a usable phone number, in words a person can act on (for the invalid ones).

    "0453 123 456" → "0453 is not a range any Australian carrier uses"; "0412 345 67" → "0412 345 67 has 9 digits:
    an Australian mobile number has 10 (04xx xxx xxx)". Only called for numbers ``normalize_phone`` refused, so
    it may take libphonenumber's slow path.
    """
    text = _clean(raw)
    if text is _EMPTY:
        return "no phone number"
    shown = raw.strip()
    if isinstance(text, NormalizedPhone):
        return f"{shown} is not a phone number"
    if default_region == "AU":
        text = _au_plain_number(text) or text
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException:
        return f"{shown} is not a phone number"
    if phonenumbers.is_valid_number(number):
        return f"{shown} is a valid number"
    nsn = phonenumbers.national_significant_number(number)
    if number.country_code != 61:
        region = phonenumbers.region_code_for_country_code(number.country_code)
        where = f"country code +{number.country_code}" + (f" ({region})" if region not in ("ZZ", "001") else "")
        return f"{shown} is not a valid number for {where}"
    written = sum(ch.isdigit() for ch in shown)
    if len(nsn) < 8:
        return f"{shown} has {written} digits: too short for a phone number (an Australian mobile has 10: 04xx xxx xxx)"
    kind = _AU_KINDS.get(nsn[:1])
    if kind is None:
        return f"{shown} is not an Australian phone number: no Australian number starts 0{nsn[:1]}"
    digits = len(nsn) + 1  # as written in Australia, with the leading 0
    if digits != 10:
        example = "04xx xxx xxx" if kind == "mobile" else "0x xxxx xxxx"
        return f"{shown} has {digits} digits: an Australian {kind} number has 10 ({example})"
    prefix = f"0{nsn[:3]}" if kind == "mobile" else f"0{nsn[:1]} {nsn[1:5]}"
    return f"{prefix} is not a range any Australian carrier uses"


def phone_digits_key(e164: str) -> int:
    """Return the digits of an E.164 number as an int, e.g. 61412345678.

    An int takes far less memory than the string in a set of a million numbers seen during an import, and is
    lossless because E.164 digits never start with 0.
    """
    digits = e164[1:]
    if e164[:1] != "+" or not (digits.isdigit() and digits.isascii()) or digits[0] == "0" or len(digits) > 15:
        raise ValueError(f"Not an E.164 number: {e164!r}")
    return int(digits)


def format_phone_national(e164: str) -> str:
    """Format an E.164 number for display: "0412 345 678" for +61 numbers, international format for the rest.

    All of +61 (including Christmas Island and Cocos) shares Australia's national dialling plan, so the national
    form is what an Australian user would dial. Other numbers need their country code to be dialled from here.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        raise ValueError(f"Not an E.164 number: {e164!r}") from exc
    if number.country_code == 61:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
