"""Candidate zones of a recipient: own zone, then postcode, then state, then number, then tenant."""

import random
import zoneinfo

import phonenumbers
import pytest
from phonenumbers import timezone as phone_timezones

from contacts import timezones
from contacts.timezones import recipient_zones

SYDNEY, PERTH = "Australia/Sydney", "Australia/Perth"
FALLBACK = "Pacific/Auckland"  # a tenant zone no Australian source could produce
AU_MOBILE = "+61412345678"
AU_MOBILE_ZONES = {
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Eucla",
    "Australia/Lord_Howe",
    "Australia/Perth",
    "Australia/Sydney",
}


def zones(timezone="", state="", postcode="", phone_e164=AU_MOBILE, fallback=FALLBACK):
    return recipient_zones(timezone=timezone, state=state, postcode=postcode, phone_e164=phone_e164, fallback=fallback)


# --- the contact's own zone ---------------------------------------------------------------


def test_own_zone_beats_postcode_state_and_number():
    assert zones(timezone=PERTH, state="NSW", postcode="2000", phone_e164="+61291234567") == (PERTH,)


def test_own_zone_may_be_any_iana_zone():
    assert zones(timezone="Europe/London", state="NSW") == ("Europe/London",)


@pytest.mark.parametrize(
    "bad",
    [
        "Mars/Olympus_Mons",
        "Australia/sydney",  # zone names are case-sensitive
        "Australia/Sydney ",
        "Australia",  # a directory of the zone database: zoneinfo raises IsADirectoryError
        "Australia/",
        "../etc/passwd",
        "x" * 300,  # too long a file name: zoneinfo raises OSError
        "Etc/Unknown",
    ],
)
def test_invalid_own_zone_is_ignored(bad):
    assert zones(timezone=bad, postcode="6000", state="NSW") == (PERTH,)
    assert zones(timezone=bad, state="QLD") == ("Australia/Brisbane",)
    assert set(zones(timezone=bad)) == AU_MOBILE_ZONES


# --- postcodes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("postcode", "zone"),
    [
        ("0200", SYDNEY),  # ACT
        ("0299", SYDNEY),
        ("0800", "Australia/Darwin"),
        ("0999", "Australia/Darwin"),
        ("1000", SYDNEY),  # NSW
        ("2000", SYDNEY),
        ("2599", SYDNEY),
        ("2600", SYDNEY),  # ACT
        ("2618", SYDNEY),
        ("2619", SYDNEY),  # NSW
        ("2879", SYDNEY),
        ("2881", SYDNEY),
        ("2899", SYDNEY),
        ("2900", SYDNEY),  # ACT
        ("2920", SYDNEY),
        ("2921", SYDNEY),  # NSW
        ("2999", SYDNEY),
        ("3000", "Australia/Melbourne"),
        ("3999", "Australia/Melbourne"),
        ("4000", "Australia/Brisbane"),
        ("4999", "Australia/Brisbane"),
        ("5000", "Australia/Adelaide"),
        ("5999", "Australia/Adelaide"),
        ("6000", PERTH),
        ("6999", PERTH),
        ("7000", "Australia/Hobart"),
        ("7999", "Australia/Hobart"),
        ("8000", "Australia/Melbourne"),
        ("8999", "Australia/Melbourne"),
        ("9000", "Australia/Brisbane"),
        ("9999", "Australia/Brisbane"),
        ("2880", "Australia/Broken_Hill"),  # Broken Hill keeps South Australian time
        ("2898", "Australia/Lord_Howe"),
        (" 3000 ", "Australia/Melbourne"),
    ],
)
def test_postcode_maps_to_its_zone(postcode, zone):
    # The state given disagrees on purpose: the postcode is the more specific source.
    assert zones(postcode=postcode, state="WA" if zone != PERTH else "NSW") == (zone,)


def test_postcode_0872_spans_three_states():
    assert set(zones(postcode="0872", state="NT")) == {"Australia/Darwin", "Australia/Adelaide", "Australia/Perth"}


def test_eucla_postcode_includes_eucla_time():
    assert "Australia/Eucla" in zones(postcode="6443", state="WA")


@pytest.mark.parametrize("postcode", ["0100", "0199", "0300", "0799", "800", "abcd", "20000", "2O00", "", "   "])
def test_a_postcode_that_is_no_australian_postcode_falls_through_to_the_state(postcode):
    assert zones(postcode=postcode, state="WA") == (PERTH,)


# --- states -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "zone"),
    [
        ("ACT", SYDNEY),
        ("NSW", SYDNEY),
        ("VIC", "Australia/Melbourne"),
        ("QLD", "Australia/Brisbane"),
        ("SA", "Australia/Adelaide"),
        ("WA", PERTH),
        ("TAS", "Australia/Hobart"),
        ("NT", "Australia/Darwin"),
        (" nt ", "Australia/Darwin"),
    ],
)
def test_state_maps_to_its_zone(state, zone):
    assert zones(state=state, phone_e164="+61291234567") == (zone,)


@pytest.mark.parametrize("state", ["XX", "New Zealand", "N"])
def test_unknown_state_falls_through_to_the_number(state):
    assert zones(state=state, phone_e164="+61732345678") == ("Australia/Brisbane",)


# --- the number ---------------------------------------------------------------------------


def test_au_mobile_gives_every_mainland_candidate_zone():
    got = zones()
    assert set(got) == AU_MOBILE_ZONES
    assert len(got) == len(set(got))
    assert "Etc/Unknown" not in got
    # Christmas and Cocos Islands have number ranges of their own: a mobile is taken to be on
    # the mainland or Tasmania (else the window would shrink to 13:30-21:00 Sydney time).
    assert not any(zone.startswith("Indian/") for zone in got)


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+61291234567", {SYDNEY}),  # 02 landline
        ("+61732345678", {"Australia/Brisbane"}),  # 07 landline
        ("+61881234567", {"Australia/Adelaide", PERTH}),  # 08: SA, NT or WA
        ("+61891640123", {"Indian/Christmas"}),  # only an external territory: kept
        ("+61891620123", {"Indian/Cocos"}),
        ("+6421123456", {"Pacific/Auckland", "Pacific/Chatham"}),
        ("+14155552671", {"America/Los_Angeles"}),
    ],
)
def test_number_candidate_zones(phone, expected):
    assert set(zones(phone_e164=phone)) == expected


@pytest.mark.parametrize(
    "phone",
    [
        "+61441000000",  # an unallocated mobile range: libphonenumber says Etc/Unknown
        "+6413",
        "",
        "not a number",
        "0412345678",  # not E.164
        "+999123456789",
    ],
)
def test_unknown_number_gives_the_tenant_zone(phone):
    assert zones(phone_e164=phone) == (FALLBACK,)
    assert zones(phone_e164=phone, fallback=PERTH) == (PERTH,)


def test_every_zone_given_is_a_zoneinfo_zone():
    for phone in [AU_MOBILE, "+61881234567", "+6421123456", "+61891640123"]:
        for zone in zones(phone_e164=phone):
            zoneinfo.ZoneInfo(zone)


def test_phone_lookup_is_cached_on_the_whole_number():
    # Validity (and so Etc/Unknown) depends on every digit: a prefix cache would be wrong here.
    assert timezones.phone_zones.cache_info().maxsize == 65536
    assert set(zones(phone_e164="+61412000000")) == AU_MOBILE_ZONES
    assert zones(phone_e164="+61441000000") == (FALLBACK,)


def _reference_phone_zones(phone):
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return ()
    found = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    if any(z.startswith("Australia/") for z in found):
        found = [z for z in found if not z.startswith("Indian/")] or found
    return tuple(found)


def test_fast_parse_of_australian_numbers_matches_phonenumbers_parse():
    rng = random.Random(61)
    phones = [f"+614{rng.randrange(10**8):08d}" for _ in range(3000)]
    phones += [f"+61{lead}{rng.randrange(10**8):08d}" for lead in "235789" for _ in range(200)]
    phones += ["+61131234", "+611300123456", "+611800123456", "+6119001234", "+611831412345678", "+61183312345"]
    phones += ["+610412345678", "+6104", "+61", "+612", "+61" + "4" * 16, "+61412345678 ", "+61٤١٢٣٤٥٦٧٨"]
    for phone in phones:
        try:
            expected = phonenumbers.parse(phone)
        except phonenumbers.NumberParseException:
            expected = None
        if timezones.AU_PLAIN_E164.fullmatch(phone):
            assert timezones._parse(phone) == expected, phone
        assert timezones.phone_zones(phone) == _reference_phone_zones(phone), phone
    assert sum(1 for phone in phones if timezones.phone_zones(phone) == ()) > 100  # unallocated ranges seen
