"""SMS segment counting (messaging.segments) against Twilio's public message segment calculator.

Expected numbers come from the calculator itself (the npm package ``sms-segments-calculator`` 1.3.0,
TwilioDevEd/message-segment-calculator): the cases of its own test suite, and the boundary cases
below, each run through it. No database needed.
"""

from __future__ import annotations

import random

import pytest

from messaging.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM_REPLACEMENTS,
    SegmentInfo,
    graphemes,
    gsm_replace,
    is_gsm7,
    segment_info,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 11 UTF-16 units
FLAG_AU = "\U0001f1e6\U0001f1fa"  # 🇦🇺, two regional indicators, 4 units
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽, 4 units
KEYCAP_1 = "1\ufe0f\u20e3"  # 1️⃣, 3 units
RED_HEART = "\u2764\ufe0f"  # ❤️ with its variation selector, 2 units
E_ACUTE_COMBINING = "e\u0301"  # e + combining acute: 2 units, not GSM (the precomposed é is)
GRINNING = "\U0001f600"  # 😀, one surrogate pair
FLAG_ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # 🏴 and tags


def info(text: str) -> tuple[str, int, int]:
    result = segment_info(text)
    return result.encoding, result.segments, result.units


# --- encoding boundaries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (153, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (1600, 11)],
)
def test_gsm7_boundaries(length, segments):
    assert info("a" * length) == ("GSM-7", segments, length)


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (67, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_boundaries(length, segments):
    assert info("á" * length) == ("UCS-2", segments, length)  # á is not GSM-7 (à and é are)


def test_empty_text_is_one_gsm7_segment():
    assert segment_info("") == SegmentInfo("GSM-7", 1, 0, ())


def test_the_whole_basic_table_is_one_septet_each():
    assert info(GSM7_BASIC) == ("GSM-7", 1, len(GSM7_BASIC))
    assert segment_info(GSM7_BASIC).non_gsm == ()


# --- GSM-7 extension characters ---------------------------------------------------------------


@pytest.mark.parametrize("char", list(GSM7_EXTENSION))
def test_extension_characters_count_two_septets(char):
    assert info(char) == ("GSM-7", 1, 2)
    assert info(char * 80) == ("GSM-7", 1, 160)
    assert info(char * 81) == ("GSM-7", 2, 162)


def test_an_escape_pair_at_the_153_boundary_moves_whole_and_costs_a_segment():
    straddling = "a" * 152 + "€" + "a" * 152  # septets 152-153 cross the end of segment one
    assert info(straddling) == ("GSM-7", 3, 306)  # plain division would say 2
    fitting = "a" * 151 + "€" + "a" * 153  # same length, the pair ends exactly at 153
    assert info(fitting) == ("GSM-7", 2, 306)


# --- clusters never split -------------------------------------------------------------------


def test_a_surrogate_pair_at_the_67_boundary_moves_whole():
    assert info("a" * 66 + GRINNING + "a" * 66) == ("UCS-2", 3, 134)
    assert info("a" * 65 + GRINNING + "a" * 67) == ("UCS-2", 2, 134)


def test_a_zwj_family_straddling_the_boundary_moves_whole():
    # At offset 58 the family's units run 58-68: a splitter that only kept surrogate pairs whole
    # would cut before 👦 at 67 and need 2 segments.
    assert info("a" * 58 + FAMILY + "a" * 65) == ("UCS-2", 3, 134)
    assert info("a" * 56 + FAMILY + "a" * 67) == ("UCS-2", 2, 134)


def test_a_flag_straddling_the_boundary_moves_whole():
    # 🇦 would fit before 67 on its own; the pair of regional indicators is one cluster.
    assert info("a" * 65 + FLAG_AU + "a" * 65) == ("UCS-2", 3, 134)
    assert info("a" * 63 + FLAG_AU + "a" * 67) == ("UCS-2", 2, 134)


@pytest.mark.parametrize("cluster", [KEYCAP_1, THUMBS_MEDIUM, RED_HEART, E_ACUTE_COMBINING, FLAG_AU, FAMILY])
def test_any_cluster_crossing_67_costs_a_segment(cluster):
    size = len(cluster.encode("utf-16-le")) // 2
    straddling = "a" * 66 + cluster + "a" * (68 - size)  # 134 units, the cluster crosses 67
    assert info(straddling) == ("UCS-2", 3, 134)
    ending_at_67 = "a" * (67 - size) + cluster + "a" * 67
    assert info(ending_at_67) == ("UCS-2", 2, 134)


def test_a_cluster_longer_than_a_segment_is_put_whole_in_one_segment():
    # Twilio's calculator neither splits a cluster nor refuses it: it overfills a segment of its own.
    huge = "a" + "\u0301" * 70  # one cluster of 71 units
    assert info(huge) == ("UCS-2", 2, 71)  # the first segment stays empty
    assert info("b" * 10 + "a" + "\u0301" * 80 + "b" * 10) == ("UCS-2", 3, 101)
    assert info("b" * 66 + "a" + "\u0301" * 69) == ("UCS-2", 2, 136)  # 70 units overfill segment two
    assert info("x" + "a" + "\u0301" * 67 + "b" * 5) == ("UCS-2", 3, 74)


def test_crlf_counts_as_two_characters_that_may_be_split():
    assert info("\rabcde\r\n123") == ("GSM-7", 1, 11)
    assert info("á" + "a" * 65 + "\r\n" + "a" * 66) == ("UCS-2", 2, 134)  # CR and LF on either side of 67


# --- grapheme clusters as grapheme-splitter (Unicode 10 rules) cuts them ----------------------


@pytest.mark.parametrize(
    ("text", "clusters"),
    [
        (FAMILY, [FAMILY]),
        (FLAG_AU + "\U0001f1f3", [FLAG_AU, "\U0001f1f3"]),  # regional indicators pair up
        (THUMBS_MEDIUM, [THUMBS_MEDIUM]),
        (KEYCAP_1, [KEYCAP_1]),
        ("e\u0301\u0301", ["e\u0301\u0301"]),
        ("\U0001f469\u200d\U0001f4bb", ["\U0001f469\u200d\U0001f4bb"]),  # 👩‍💻: 💻 may follow ZWJ in Unicode 10
        (FLAG_ENGLAND, [FLAG_ENGLAND]),  # a tag sequence
        ("\u1100\u1161\u11a8", ["\u1100\u1161\u11a8"]),  # conjoining jamo
        ("\u0600a", ["\u0600a"]),  # Prepend
        ("\r\n", ["\r", "\n"]),  # Twilio splits CR LF again
        # Unicode 10 quirks, kept because the calculator has them:
        ("\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1", ["\U0001f9d1\u200d", "\U0001f91d\u200d", "\U0001f9d1"]),
        ("\U0001faf6\U0001f3fd", ["\U0001faf6", "\U0001f3fd"]),  # 🫶 (Unicode 14) takes no skin tone yet
        ("\u2764\ufe0f\u200d\U0001f525", ["\u2764\ufe0f\u200d", "\U0001f525"]),  # ❤️‍🔥
        ("\u0915\u094d\u0937\u093f", ["\u0915\u094d", "\u0937\u093f"]),  # no Indic conjuncts (Unicode 15.1)
        ("", []),
    ],
)
def test_graphemes(text, clusters):
    assert graphemes(text) == clusters


# --- non-GSM characters ------------------------------------------------------------------------


def test_non_gsm_lists_distinct_characters_in_order_of_first_appearance():
    result = segment_info("Olá 😀 olá — ok 😀 ç")
    assert result.encoding == "UCS-2"
    assert result.non_gsm == ("á", GRINNING, "—", "ç")


def test_non_gsm_is_empty_for_gsm7():
    assert segment_info("Price {10} ~ €5 | Ñoño café").non_gsm == ()


def test_one_character_outside_gsm7_makes_the_whole_message_ucs2():
    text = "a" * 100 + "\u2019"  # a right single quote: 101 characters, one UCS-2 segment would not do
    assert info(text) == ("UCS-2", 2, 101)
    assert info(text[:-1]) == ("GSM-7", 1, 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", True), (GSM7_BASIC + GSM7_EXTENSION, True), ("Hi Sam!", True), ("Hi Sam\u2019s", False), ("`", False)],
)
def test_is_gsm7(text, expected):
    assert is_gsm7(text) is expected


# --- gsm_replace ---------------------------------------------------------------------------------


def test_gsm_replace_turns_smart_punctuation_into_gsm7():
    text = (
        "\u201cHi\u201d \u2018Sam\u2019 \u2013 it\u2019s 5\u201310\u00a0min\u2026 \u2014 see you\tsoon"
        " \u2022 \u201eok\u201c"
    )
    assert segment_info(text).encoding == "UCS-2"
    replaced = gsm_replace(text)
    assert replaced == '"Hi" \'Sam\' - it\'s 5-10 min... - see you soon - "ok"'
    assert is_gsm7(replaced)
    assert info(replaced) == ("GSM-7", 1, len(replaced))


def test_gsm_replace_can_save_segments():
    text = "Don\u2019t miss our sale \u2014 " + "x" * 130  # 152 characters
    assert info(text) == ("UCS-2", 3, 152)
    assert info(gsm_replace(text)) == ("GSM-7", 1, 152)


def test_gsm_replace_leaves_other_text_alone():
    text = "Olá 😀 ça va? Ñandú {x} €5"
    assert gsm_replace(text) == text
    assert gsm_replace("") == ""


def test_replacements_map_look_alikes_to_basic_table_characters_only():
    basic = set(GSM7_BASIC)
    for key, value in GSM_REPLACEMENTS.items():
        assert len(key) == 1 and not is_gsm7(key), repr(key)
        assert set(value) <= basic, f"{key!r} -> {value!r} is not basic-table GSM-7"
    for char in "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2212\u2026\u00a0\u2009\u202f\t\u2022":
        assert char in GSM_REPLACEMENTS, repr(char)


# --- the calculator's own test suite (tests/*.test.js), as numbers there ----------------------

DIGITS = "1234567890" * 31


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [
        # Basic tests: "characters" for GSM-7, messageSize / 16 for UCS-2.
        (DIGITS[:160], "GSM-7", 1, 160),
        (DIGITS[:161], "GSM-7", 2, 161),
        (DIGITS[:307], "GSM-7", 3, 307),
        ("😜" + DIGITS[1:69], "UCS-2", 1, 70),
        ("😜" + DIGITS[1:70], "UCS-2", 2, 71),
        ("😜" + DIGITS[1:134], "UCS-2", 3, 135),
        ("🇮🇹" + DIGITS[1:67], "UCS-2", 1, 70),
        ("🇮🇹" + DIGITS[1:68], "UCS-2", 2, 71),
        ("\U0001f3f3\ufe0f\u200d\U0001f308" + DIGITS[1:65], "UCS-2", 1, 70),  # 🏳️‍🌈
        ("\U0001f3f3\ufe0f\u200d\U0001f308" + DIGITS[1:66], "UCS-2", 2, 71),
        # Special tests (issue #18): GSM-7 extension characters are one unit each in UCS-2.
        ("😀" + "]" * 68, "UCS-2", 1, 70),
        ("😀" + "]" * 69, "UCS-2", 2, 71),
        # Line break tests
        ("\rabcde\r\n123", "GSM-7", 1, 11),
        ("\nabcde\n\n123\n", "GSM-7", 1, 12),
        # Triple accents (issue #17): one cluster of four units
        ("e\u0301\u0301\u0301" + "a" * 66, "UCS-2", 1, 70),
        ("e\u0301\u0301\u0301" + "a" * 67, "UCS-2", 2, 71),
    ],
)
def test_twilio_suite_basic_cases(body, encoding, segments, units):
    assert info(body) == (encoding, segments, units)


@pytest.mark.parametrize("char", ["|", "^", "€", "{", "}", "[", "]", "~", "\\"])
def test_twilio_suite_escape_characters(char):
    assert info(char + DIGITS[:158]) == ("GSM-7", 1, 160)
    assert info(char + DIGITS[:159]) == ("GSM-7", 2, 161)


@pytest.mark.parametrize("char", ["Á", "Ú", "ú", "ç", "í", "Í", "ó", "Ó"])
def test_twilio_suite_one_grapheme_ucs2_characters(char):
    assert segment_info(char * 70).segments == 1
    assert segment_info(char * 71).segments == 2
    assert segment_info(char * 71).non_gsm == (char,)


def test_twilio_suite_non_gsm_characters():
    assert segment_info("más").non_gsm == ("á",)


# --- the fast paths agree with a literal port of Twilio's _buildSegments ----------------------


def twilio_segments(text: str) -> int:
    """Segment count as SegmentedMessage._buildSegments computes it, bit for bit."""
    clusters = graphemes(text)
    gsm = all(len(cluster) == 1 and is_gsm7(cluster) for cluster in clusters)

    def bits(cluster: str) -> int:
        if gsm:
            return 14 if cluster in GSM7_EXTENSION else 7
        return 16 * (len(cluster.encode("utf-16-le")) // 2)

    segments: list[list[int]] = [[]]
    headed = [False]
    for size in map(bits, clusters):
        if 1120 - (48 * headed[-1] + sum(segments[-1])) < size:
            segments.append([])
            headed.append(True)
            if not headed[-2]:  # the first segment takes its header and hands on what no longer fits
                headed[-2] = True
                moved: list[int] = []
                while 1120 - 48 - sum(segments[-2]) < 0:
                    moved.insert(0, segments[-2].pop())
                segments[-1].extend(moved)
        segments[-1].append(size)
    return len(segments)


def test_segment_counts_match_a_literal_port_of_the_calculator():
    rng = random.Random(20240611)
    pieces = [
        "a", "b", " ", "é", "€", "[", "\r\n", "á", "—", GRINNING, FAMILY, FLAG_AU, THUMBS_MEDIUM, KEYCAP_1,
        RED_HEART, E_ACUTE_COMBINING, "\u0915\u094d\u0937", "\u1100\u1161", "ç", "中",
    ]  # fmt: skip
    for _ in range(400):
        weights = [rng.random() for _ in pieces]
        text = "".join(rng.choices(pieces, weights, k=rng.randint(0, 260)))
        if rng.random() < 0.1:
            text += "x" + "\u0301" * rng.randint(40, 90)  # a cluster near or over a segment's size
        assert segment_info(text).segments == twilio_segments(text), repr(text)


def test_a_plain_160_character_message_is_one_gsm7_segment_and_161_are_two():
    """The plain-text fast path (its speed is bench/segments' concern, not a unit test's)."""
    text = ("Hi Sam, your table at Acme Bakery is booked for 7pm Fri. Reply STOP to opt out. " * 2)[:160]
    assert segment_info(text) == SegmentInfo("GSM-7", 1, 160, ())
    assert segment_info(text + "x") == SegmentInfo("GSM-7", 2, 161, ())
