"""Where a recipient's clock is: the candidate time zones of a contact.

Most specific first: the contact's own time zone; else its postcode; else its state; else
what libphonenumber knows of the number (a landline's area code narrows it, an Australian
mobile says only "somewhere in Australia"); else the tenant's zone. When several zones remain,
the quiet-hours gate requires the window to hold in all of them.
"""

from __future__ import annotations

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


@lru_cache(maxsize=1024)
def valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=16384)
def postcode_zones(postcode: str) -> tuple[str, ...]:
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


@lru_cache(maxsize=65536)
def phone_zones(phone_e164: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone_e164)
    except phonenumbers.NumberParseException:
        return ()
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown" and valid_zone(z)]
    if any(z.startswith("Australia/") for z in zones):
        zones = [z for z in zones if z not in EXTERNAL_TERRITORIES] or zones
    return tuple(zones)


def recipient_zones(*, timezone: str, state: str, postcode: str, phone_e164: str, fallback: str) -> tuple[str, ...]:
    """The candidate IANA zones of a recipient, most specific source first."""
    if timezone and valid_zone(timezone):
        return (timezone,)
    if postcode:
        zones = postcode_zones(postcode)
        if zones:
            return zones
    if state in STATE_ZONES:
        return (STATE_ZONES[state],)
    return phone_zones(phone_e164) or (fallback,)
