"""Where a recipient's clock is: the candidate time zones of a contact.

Most specific first: the contact's own time zone; else its postcode; else its state; else
what libphonenumber knows of the number (a landline's area code narrows it, an Australian
mobile says only "somewhere in Australia"); else the tenant's zone. When several zones remain,
the quiet-hours gate requires the window to hold in all of them.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as phone_timezones

STATE_ZONES = {
    "ACT": "Australia/Sydney",
    "NSW": "Australia/Sydney",
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "NT": "Australia/Darwin",
}
# Postcodes that keep another clock than their state's.
POSTCODE_ZONES = {
    "2880": ("Australia/Broken_Hill",),  # Broken Hill keeps South Australian time
    "2898": ("Australia/Lord_Howe",),
    "6443": ("Australia/Eucla", "Australia/Perth"),  # the Eucla area's unofficial UTC+8:45
    "0872": ("Australia/Darwin", "Australia/Adelaide", "Australia/Perth"),  # spans NT, SA and WA
}
# (first, last, state) of Australia Post's ranges.
POSTCODE_RANGES = [
    (200, 299, "ACT"), (800, 999, "NT"), (1000, 2599, "NSW"), (2600, 2618, "ACT"), (2619, 2899, "NSW"),
    (2900, 2920, "ACT"), (2921, 2999, "NSW"), (3000, 3999, "VIC"), (4000, 4999, "QLD"), (5000, 5999, "SA"),
    (6000, 6999, "WA"), (7000, 7999, "TAS"), (8000, 8999, "VIC"), (9000, 9999, "QLD"),
]  # fmt: skip
# Australia's external Indian Ocean territories have number ranges of their own; a number
# that could be anywhere in Australia (a mobile) is taken to be on the mainland or Tasmania.
EXTERNAL_TERRITORIES = {"Indian/Christmas", "Indian/Cocos"}


# An Australian E.164 number whose national part phonenumbers.parse() would keep as it is (no
# national prefix 0 or carrier prefix 1831/1832 to strip): it can be built without parsing.
AU_PLAIN_E164 = re.compile(r"\+61(?!0|183[12])([0-9]{2,15})")


@lru_cache(maxsize=1024)
def valid_zone(name: str) -> bool:
    """Whether zoneinfo loads ``name`` ("Australia" is a directory, a 300-character name is too
    long for the file system: both are invalid, not errors)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=16384)
def postcode_zones(postcode: str) -> tuple[str, ...]:
    """The zones of an Australian postcode (4 digits); () when it is not one."""
    postcode = postcode.strip()
    if postcode in POSTCODE_ZONES:
        return POSTCODE_ZONES[postcode]
    if len(postcode) != 4 or not postcode.isdigit():
        return ()
    number = int(postcode)
    for first, last, state in POSTCODE_RANGES:
        if first <= number <= last:
            return (STATE_ZONES[state],)
    return ()


def _parse(phone_e164: str) -> phonenumbers.PhoneNumber:
    plain = AU_PLAIN_E164.fullmatch(phone_e164)
    if plain:
        return phonenumbers.PhoneNumber(country_code=61, national_number=int(plain[1]))
    return phonenumbers.parse(phone_e164)


# Keyed on the whole number, not a prefix: time_zones_for_number() first asks whether the number
# is valid (Etc/Unknown for an unallocated range), and validity depends on every digit.
@lru_cache(maxsize=65536)
def phone_zones(phone_e164: str) -> tuple[str, ...]:
    """libphonenumber's candidate zones of a number, valid ones only; () when it knows none."""
    try:
        number = _parse(phone_e164)
    except phonenumbers.NumberParseException:
        return ()
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown" and valid_zone(z)]
    if any(z.startswith("Australia/") for z in zones):
        zones = [z for z in zones if z not in EXTERNAL_TERRITORIES] or zones
    return tuple(zones)


def recipient_zones(*, timezone: str, state: str, postcode: str, phone_e164: str, fallback: str) -> tuple[str, ...]:
    """The candidate IANA zones of a recipient, from the most specific source that knows any:
    the contact's own zone, its postcode, its state, its number; else ``(fallback,)`` (the
    tenant's zone, trusted as given: an invalid one makes the quiet-hours gate raise rather
    than send unchecked). An invalid contact zone, postcode or state is skipped."""
    if timezone and valid_zone(timezone):
        return (timezone,)
    if postcode:
        zones = postcode_zones(postcode)
        if zones:
            return zones
    if state:
        zone = STATE_ZONES.get(state) or STATE_ZONES.get(state.strip().upper())
        if zone:
            return (zone,)
    return phone_zones(phone_e164) or (fallback,)
