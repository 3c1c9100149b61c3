"""A realistic contact CSV, deterministic for a given row count and seed.

Columns: First Name, Last Name, Mobile, Email, State, Postcode, Tags, Loyalty Tier. Exact shares of the rows:

- 2% invalid phone cells: garbage text, blanks, too short/long, unallocated 04 ranges, landlines and 13/1300
  numbers (the last two come out as ``not_mobile``, the rest as ``invalid_phone``);
- 1% repeats of an earlier Australian mobile of the file, written in a different format (``duplicate``);
- 0.3% New Zealand mobiles (valid, through libphonenumber's full path);
- the rest unique Australian mobiles from 04xx blocks that are wholly allocated, written the dozen ways people and
  spreadsheets write them (``0412 345 678``, ``+61 412 345 678``, ``61412345678``, ``0061 412 345 678``,
  ``(0412) 345-678``, ``412345678``, ``4.12345678E+8`` …).

0.5% of the rows' numbers (unique Australian mobiles) are returned as the do-not-contact list to load before the
import. Only the 2% invalid cells and the NZ numbers go through ``normalize_phone`` while generating (to know their
exact outcome); the Australian blocks are checked once, up front, against libphonenumber's own metadata and its full
parse path.
"""

from __future__ import annotations

import csv
import random
import unicodedata
from array import array
from collections import Counter
from dataclasses import dataclass, field

from contacts.phones import _AU_MOBILE_NSN, _normalize_slow, normalize_phone

SEED = 20_240_601
HEADERS = ["First Name", "Last Name", "Mobile", "Email", "State", "Postcode", "Tags", "Loyalty Tier"]
PHONE_COLUMN = HEADERS.index("Mobile")

INVALID_SHARE = 0.02
DUPLICATE_SHARE = 0.01
FOREIGN_SHARE = 0.003
DNC_SHARE = 0.005


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# 9-digit national numbers 4XXYYYYYY: blocks that are mobile for every YYYYYY (checked by verify_blocks()).
AU_BLOCKS = _words(
    "400 401 402 403 404 405 406 407 408 409 410 411 412 413 414 415 416 417 418 419 420 421 422 423 424 425 426 "
    "427 428 429 430 431 432 433 434 435 437 438 439 447 448 449 450 451 452 455 456 457 458 459 466 467 468 469 "
    "470 472 473 474 475 477 478 481 482 484 487 488 490 493 497 498 499"
)
# 04xx blocks libphonenumber does not list as allocated: well-formed, but invalid.
UNALLOCATED_BLOCKS = ("441", "442", "443", "445", "446", "453", "471")

FIRST_NAMES = _words(
    "José Zoë Ngữ Søren Chloé Olivia Jack Charlotte William Amelia Noah Isla Oliver Mia Leo Ava Henry Grace "
    "Thomas Matilda François Björn Siobhán Đức Renée Noël Mañuel Ines Jürgen Ana-María Minh Thảo Aoife Łukasz Zoé "
    "Ruby Lachlan Harper Hamish Sienna Priya Arjun Mei Wei Hùng Fatima Mohammed Ngaio Tāne Kai Élodie Ciarán "
    "Sebastián Ümit Dorothée"
)
LAST_NAMES = _words(
    "Smith Jones Williams Brown Wilson Taylor Nguyễn Trần Lê Phạm Müller García Ødegaard Kovačević Novák Sørensen "
    "Ó_Súilleabháin O'Brien O'Connor D'Angelo MacDonald Papadopoulos Kowalczyk Gonçalves Ferreira Żukowski "
    "Dvořák Çelik Nuñez Lefèvre Brontë Yıldız Võ Đặng Huỳnh Singh Patel Chen Wang Li Kim Park Rossi Russo "
    "Van_der_Berg De_Silva St._Clair"
)
LAST_NAMES = tuple(n.replace("_", " ") for n in LAST_NAMES) + ("Smith, Jr.", "Brown, OAM", "Nguyen, Thi")
NICKNAMED = ('Robert "Bob"', 'Elizabeth "Liz"', 'Margaret "Peggy"')
EMAIL_DOMAINS = _words("gmail.com outlook.com bigpond.com hotmail.com icloud.com yahoo.com.au optusnet.com.au")
BAD_EMAILS = ("none", "n/a", "no email", "jose@", "@gmail.com", "test@test", "x")
STATES = (
    ("NSW", 30), ("VIC", 25), ("QLD", 18), ("WA", 9), ("SA", 6), ("TAS", 2), ("ACT", 2), ("NT", 1),
    ("New South Wales", 2), ("Victoria", 2), ("Queensland", 1), ("nsw", 1), ("Vic.", 1), ("W.A.", 1),
    ("", 4), ("Sydney", 1),
)  # fmt: skip
POSTCODE_RANGES = {
    "NSW": (2000, 2999), "VIC": (3000, 3999), "QLD": (4000, 4999), "SA": (5000, 5799), "WA": (6000, 6797),
    "TAS": (7000, 7799), "NT": (800, 899), "ACT": (2600, 2618),
}  # fmt: skip
TAGS = (
    ("", 40), ("vip", 10), ("newsletter", 15), ("newsletter;vip", 5), ("walk-in|2023", 5), ("Retail, Wholesale", 5),
    ("Café regulars", 5), ("spring-sale; VIP", 5), ("loyalty", 10),
)  # fmt: skip
TIERS = (("", 30), ("Bronze", 35), ("Silver", 20), ("Gold", 12), ("Platinum", 3))

GARBAGE = (
    "n/a", "N/A", "-", "unknown", "call me", "TBA", "0", "none", "see notes", "04xx xxx xxx", "ph: ask reception",
    "0412 ABC 678", "mobile", "#ERROR!", "?",
)  # fmt: skip


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _sci(digits: str) -> str:
    """Excel's lossless scientific notation for an integer: 412345678 → 4.12345678E+8."""
    rest = digits[1:].rstrip("0")
    return f"{digits[0]}{'.' + rest if rest else ''}E+{len(digits) - 1}"


def _au_format(nsn: str, fmt: int) -> str:
    """Write the 9-digit national number ``nsn`` (4XXXXXXXX) in format number ``fmt``."""
    a, b, c = nsn[:3], nsn[3:6], nsn[6:]
    if fmt == 0:
        return f"0{a} {b} {c}"
    if fmt == 1:
        return f"0{nsn}"
    if fmt == 2:
        return f"+61 {a} {b} {c}"
    if fmt == 3:
        return f"61{nsn}"
    if fmt == 4:
        return f"0061 {a} {b} {c}"
    if fmt == 5:
        return f"(0{a}) {b}-{c}"
    if fmt == 6:
        return nsn
    if fmt == 7:
        return f"0{a}-{b}-{c}"
    if fmt == 8:
        return f"+61{nsn}"
    if fmt == 9:
        return _sci(nsn) if int(nsn[-1]) % 4 else _sci("61" + nsn)  # 4.12345678E+8 or 6.1412345678E+10
    if fmt == 10:
        return f"+61 (0) {a} {b} {c}"
    return f"\u00a00{a} {b} {c} "  # a no-break space pasted from a web page, and a trailing space


AU_FORMAT_WEIGHTS = (30, 15, 15, 10, 4, 5, 8, 6, 4, 1, 1, 1)
N_FORMATS = len(AU_FORMAT_WEIGHTS)


def verify_blocks() -> None:
    """Every AU block is mobile for all suffixes (metadata pattern) and libphonenumber's full path agrees."""
    rng = random.Random(1)
    for block in AU_BLOCKS:
        for suffix in range(0, 1_000_000, 4_999):
            nsn = f"{block}{suffix:06d}"
            if not _AU_MOBILE_NSN.fullmatch(nsn):
                raise AssertionError(f"04{block[1:]} block is not wholly mobile: {nsn}")
        for fmt in range(N_FORMATS):
            nsn = f"{block}{rng.randrange(1_000_000):06d}"
            text = _au_format(nsn, fmt)
            slow = _normalize_slow(text)
            if slow.e164 != "+61" + nsn or slow.error is not None or normalize_phone(text) != slow:
                raise AssertionError(f"{text!r}: {slow}")
    for block in UNALLOCATED_BLOCKS:
        if normalize_phone(f"0{block}123456").error != "invalid":
            raise AssertionError(f"04{block[1:]} is allocated now; pick another unallocated block")


@dataclass
class Generated:
    rows: int
    size_bytes: int = 0
    expected: Counter = field(default_factory=Counter)
    dnc: list[str] = field(default_factory=list)
    formats: Counter = field(default_factory=Counter)


def _invalid_phone(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice(GARBAGE)
    if kind == 1:
        return ""
    if kind == 2:  # too short
        return f"04{rng.randrange(10)}{rng.randrange(10)} {rng.randrange(1000):03d} {rng.randrange(100):02d}"
    if kind == 3:  # too long
        return f"04{rng.randrange(10, 100)} {rng.randrange(1000):03d} {rng.randrange(10000):04d}"
    if kind in (4, 5):  # unallocated mobile block
        return f"0{rng.choice(UNALLOCATED_BLOCKS)} {rng.randrange(1000):03d} {rng.randrange(1000):03d}"
    if kind in (6, 7):  # landline
        area, first = rng.choice((("02", "9"), ("03", "9"), ("07", "3"), ("08", "9"), ("02", "6"), ("08", "8")))
        number = f"{first}{rng.randrange(1000):03d} {rng.randrange(10000):04d}"
        return f"({area}) {number}" if rng.random() < 0.5 else f"{area} {number}"
    if kind == 8:
        return f"1300 {rng.randrange(1000):03d} {rng.randrange(1000):03d}"
    return f"+61 2 {rng.randrange(8000, 10000)} {rng.randrange(10000):04d}"


def generate(path: str, rows: int, *, seed: int = SEED) -> Generated:
    """Write ``rows`` data rows to ``path``; return the outcomes the import must report and the DNC numbers."""
    verify_blocks()
    rng = random.Random(seed)
    n_invalid = round(rows * INVALID_SHARE)
    n_dup = round(rows * DUPLICATE_SHARE)
    n_foreign = round(rows * FOREIGN_SHARE)
    n_au = rows - n_invalid - n_dup - n_foreign
    kinds = bytearray([0]) * n_au + bytearray([1]) * n_invalid + bytearray([2]) * n_dup + bytearray([3]) * n_foreign
    rng.shuffle(kinds)
    if kinds[0] != 0:  # a duplicate needs an earlier number: start with a plain Australian mobile
        kinds[kinds.index(0)], kinds[0] = kinds[0], 0

    space = len(AU_BLOCKS) * 1_000_000
    picks = rng.sample(range(space), n_au)
    dnc_positions = set(rng.sample(range(n_au), round(rows * DNC_SHARE)))

    result = Generated(rows=rows)
    expected = result.expected
    emitted = array("I")  # picks written so far (by AU order), for duplicates
    emitted_fmt = bytearray()
    fmt_choices = rng.choices(range(N_FORMATS), weights=AU_FORMAT_WEIGHTS, k=n_au)
    first_names = FIRST_NAMES
    last_names = LAST_NAMES
    ascii_first = {n: _ascii(n) for n in (*FIRST_NAMES, *NICKNAMED)}
    ascii_last = {n: _ascii(n) for n in LAST_NAMES}
    state_values = [s for s, _ in STATES]
    state_weights = [w for _, w in STATES]
    tag_values, tag_weights = [t for t, _ in TAGS], [w for _, w in TAGS]
    tier_values, tier_weights = [t for t, _ in TIERS], [w for _, w in TIERS]
    au = 0
    foreign = 0

    def nsn_of(pick: int) -> str:
        block, suffix = divmod(pick, 1_000_000)
        return f"{AU_BLOCKS[block]}{suffix:06d}"

    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)  # QUOTE_MINIMAL: names with commas and quotes get quoted, as Excel does
        writer.writerow(HEADERS)
        chunk: list[list[str]] = []
        for kind in kinds:
            if kind == 0:
                pick = picks[au]
                fmt = fmt_choices[au]
                phone = _au_format(nsn_of(pick), fmt)
                if au in dnc_positions:
                    result.dnc.append("+61" + nsn_of(pick))
                    expected["dnc"] += 1
                else:
                    expected["create"] += 1
                emitted.append(pick)
                emitted_fmt.append(fmt)
                result.formats[fmt] += 1
                au += 1
            elif kind == 1:
                while True:
                    phone = _invalid_phone(rng)
                    outcome = normalize_phone(phone).error
                    if outcome is not None:
                        break
                expected["invalid_phone" if outcome in ("empty", "invalid") else "not_mobile"] += 1
            elif kind == 2:
                i = rng.randrange(len(emitted))
                fmt = rng.randrange(N_FORMATS - 1)
                fmt += fmt >= emitted_fmt[i]  # any format but the first appearance's
                phone = _au_format(nsn_of(emitted[i]), fmt)
                expected["duplicate"] += 1
            else:
                phone = f"+64 2{rng.choice('17')} {foreign // 10_000:03d} {foreign % 10_000:04d}"
                foreign += 1
                if normalize_phone(phone).error is not None:
                    raise AssertionError(f"{phone} should be a valid NZ mobile")
                expected["create"] += 1

            r = rng.random()
            first = rng.choice(NICKNAMED) if r < 0.005 else first_names[int(r * 7919) % len(first_names)]
            last = last_names[rng.randrange(len(last_names))]
            r = rng.random()
            if r < 0.85:
                email = f"{ascii_first[first]}.{ascii_last[last]}{int(r * 1000)}@{EMAIL_DOMAINS[int(r * 97) % 7]}"
                if r < 0.02:
                    email = email.upper()
            elif r < 0.95:
                email = ""
            else:
                email = BAD_EMAILS[int(r * 1000) % len(BAD_EMAILS)]
            state = rng.choices(state_values, weights=state_weights)[0]
            span = POSTCODE_RANGES.get(state)
            r = rng.random()
            if span is None or r < 0.05:
                postcode = ""
            else:
                postcode = str(rng.randint(*span))
                if len(postcode) == 3 and r < 0.5:
                    postcode = "0" + postcode
            tags = rng.choices(tag_values, weights=tag_weights)[0]
            tier = rng.choices(tier_values, weights=tier_weights)[0]
            if rng.random() < 0.01:
                first = first.upper()
            chunk.append([first, last, phone, email, state, postcode, tags, tier])
            if len(chunk) >= 10_000:
                writer.writerows(chunk)
                chunk = []
        writer.writerows(chunk)
        result.size_bytes = out.tell()
    return result
