"""SMS segment counting, as Twilio's public message segment calculator counts.

The reference is Twilio's open-source calculator (TwilioDevEd/message-segment-calculator, published
on npm as ``sms-segments-calculator``; its ``SegmentedMessage``). Its rules, reproduced here:

* GSM-7 when every character is in the 3GPP TS 23.038 basic table or its extension table
  (extension characters take two septets, an escape and the character); one character outside
  both makes the whole message UCS-2, where every UTF-16 code unit counts (a GSM extension
  character is then one unit, an emoji outside the BMP two).
* A segment holds 140 octets: 160 septets or 70 UTF-16 units alone. Once a message is split every
  segment carries a 6-octet user data header, leaving 153 septets or 67 units.
* The message is cut into grapheme clusters (the npm ``grapheme-splitter`` package, Unicode 10
  rules; a CR LF pair counts as two) and a cluster is never cut: an escape pair, a surrogate pair,
  a ZWJ emoji sequence, a flag, a keycap, a skin-toned emoji or a letter with its combining marks
  moves whole to the next segment when it doesn't fit, so a message can need one more segment
  than a plain division says.
* Segments fill greedily. When the first one overflows it gets its header and the trailing
  clusters that no longer fit move to the second. A cluster bigger than a segment is put whole in
  a segment of its own (which it overfills) rather than split: Twilio's calculator does this, so a
  lone 71-unit cluster counts as two segments, the first of them empty.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_GSM7 = frozenset(GSM7_BASIC + GSM7_EXTENSION)
_BASIC_ONLY = re.compile(f"[{re.escape(GSM7_BASIC)}]*")
_ANY_GSM7 = re.compile(f"[{re.escape(GSM7_BASIC + GSM7_EXTENSION)}]*")
_EXTENSION_CHAR = re.compile(f"[{re.escape(GSM7_EXTENSION)}]")
_SURROGATE = re.compile("[\ud800-\udfff]")

SINGLE_SEGMENT = {"GSM-7": 160, "UCS-2": 70}  # septets / UTF-16 units in an unsplit message
PER_SEGMENT = {"GSM-7": 153, "UCS-2": 67}  # the same per segment once split (after the header)

# Look-alikes that force UCS-2, each to characters of GSM-7's basic table only (never the two-septet
# extension ones), or to nothing for invisible zero-width characters. ZWJ is left alone: it belongs
# to emoji, which keep a message UCS-2 anyway.
GSM_REPLACEMENTS: dict[str, str] = {
    # single quotes, apostrophes, primes, accents used as apostrophes
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2035": "'",
    "\u00b4": "'", "\u0060": "'", "\u02b9": "'", "\u02bb": "'", "\u02bc": "'", "\u02bd": "'",
    "\u02c8": "'", "\u02ca": "'", "\u02cb": "'", "\u275b": "'", "\u275c": "'",
    # double quotes, guillemets, double primes
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u2036": '"',
    "\u00ab": '"', "\u00bb": '"', "\u02ba": '"', "\u02ee": '"', "\u275d": '"', "\u275e": '"',
    "\u301d": '"', "\u301e": '"', "\u2039": "<", "\u203a": ">",
    # hyphens, dashes, minus, bullets
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2043": "-", "\ufe58": "-", "\ufe63": "-", "\u2022": "-", "\u2023": "-",
    "\u25e6": "-", "\u2219": "-", "\u00b7": "-",
    # punctuation
    "\u2026": "...", "\u203c": "!!", "\u2047": "??", "\u2048": "?!", "\u2049": "!?", "\u2044": "/",
    "\u2215": "/", "\u00f7": "/", "\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4",
    "\u3001": ",", "\u3002": ".", "\u2024": ".", "\u2017": "_",
    # spaces (no-break, thin, en/em, ideographic...), tab, line and paragraph separators
    "\u00a0": " ", "\u1680": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ",
    "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ",
    "\u200a": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ", "\t": " ",
    "\u2028": "\n", "\u2029": "\n",
    # invisible: zero-width space and non-joiner, word joiner, byte order mark, soft hyphen
    "\u200b": "", "\u200c": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
}  # fmt: skip
# Full-width ASCII forms (from East Asian keyboards) whose ASCII twin is in the basic table.
GSM_REPLACEMENTS.update({chr(code + 0xFEE0): chr(code) for code in range(0x21, 0x7F) if chr(code) in GSM7_BASIC})
_REPLACE_TABLE = str.maketrans(GSM_REPLACEMENTS)
_REPLACEABLE = re.compile(f"[{re.escape(''.join(GSM_REPLACEMENTS))}]")


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2
    non_gsm: tuple[str, ...] = ()  # distinct characters forcing UCS-2, in order of first appearance


# Shared answers for basic-table text up to Twilio's 1,600-character body limit (building a frozen
# dataclass costs more than the check itself).
_PLAIN_GSM = tuple(SegmentInfo("GSM-7", 1 if size <= 160 else -(-size // 153), size) for size in range(1601))


def is_gsm7(text: str) -> bool:
    """Whether every character is in GSM-7's basic or extension table."""
    return _ANY_GSM7.fullmatch(text) is not None


def gsm_replace(text: str) -> str:
    """Swap look-alikes (smart quotes, dashes, ellipsis, odd spaces...) for GSM-7 basic characters."""
    return text.translate(_REPLACE_TABLE) if _REPLACEABLE.search(text) else text


def segment_info(text: str) -> SegmentInfo:
    """Encoding, segment count and size of ``text`` as Twilio's segment calculator reports them."""
    if _BASIC_ONLY.fullmatch(text) is not None:  # the common case: one septet per character
        size = len(text)
        if size < len(_PLAIN_GSM):
            return _PLAIN_GSM[size]
        return SegmentInfo("GSM-7", -(-size // 153), size)
    return _segment_info(text)


@lru_cache(maxsize=2048)
def _segment_info(text: str) -> SegmentInfo:
    if _ANY_GSM7.fullmatch(text) is not None:
        # GSM-7 text is one cluster per character (CR LF is two for Twilio): only the two-septet
        # escape pairs are longer than one unit. The k-th of them starts k septets further on.
        pairs = [(match.start() + k, match.start() + k + 2) for k, match in enumerate(_EXTENSION_CHAR.finditer(text))]
        total = len(text) + len(pairs)
        return SegmentInfo("GSM-7", _count_segments(pairs, total, 160, 153), total)
    non_gsm = tuple(sorted(set(text).difference(_GSM7), key=text.index))
    total = len(text.encode("utf-16-le", "surrogatepass")) >> 1
    if total <= 70:
        return SegmentInfo("UCS-2", 1, total, non_gsm)
    if _SURROGATE.search(text):  # surrogate pairs held as two code points: join them, as JavaScript sees them
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return SegmentInfo("UCS-2", _count_segments(_long_clusters(text), total, 70, 67), total, non_gsm)


def _count_segments(long_clusters: list[tuple[int, int]], total: int, single: int, per_segment: int) -> int:
    """Segments for ``total`` units, placed as Twilio's ``_buildSegments`` places clusters.

    ``long_clusters`` holds the (start, end) unit offsets, in order, of the clusters longer than one
    unit; every other unit is a cluster of its own. Segments fill greedily, so each one ends at the
    last cluster boundary within its room, or after its first cluster if even that one overfills it.
    """
    if total <= single:
        return 1
    if not long_clusters:
        return -(-total // per_segment)
    starts = [start for start, _ in long_clusters]

    def boundary(offset: int) -> int:  # the last cluster boundary at or before offset
        index = bisect_right(starts, offset) - 1
        return starts[index] if index >= 0 and offset < long_clusters[index][1] else offset

    def cluster_end(offset: int) -> int:  # the end of the cluster starting at offset
        index = bisect_left(starts, offset)
        return long_clusters[index][1] if index < len(starts) and starts[index] == offset else offset + 1

    # The first segment fills up to `single`; the cluster that doesn't fit opens the second, and the
    # first, taking its header, hands on its last clusters until it holds per_segment at most.
    first_end = boundary(single)
    kept = boundary(min(first_end, per_segment))
    end = max(cluster_end(first_end), boundary(min(kept + per_segment, total)))
    segments = 2
    while end < total:
        segments += 1
        end = max(cluster_end(end), boundary(min(end + per_segment, total)))
    return segments


def _long_clusters(text: str) -> list[tuple[int, int]]:
    """(start, end) UTF-16 offsets of the grapheme clusters of ``text`` longer than one unit."""
    spans: list[tuple[int, int]] = []
    astral = 0  # astral characters before the run: a UTF-16 offset is an index plus these
    for match in _joinable_runs().finditer(text):
        start, end = match.span()
        if start and _property(text[start]) in _JOINING:
            start -= 1  # the hit joins the character before it, where the run starts
        if end - start == 1:  # a character alone in its cluster: two units if astral (a surrogate pair)
            if text[start] > "\uffff":
                spans.append((start + astral, start + astral + 2))
                astral += 1
            continue
        offset = first = start + astral
        for size in _run_cluster_sizes(text[start:end]):
            if size > 1:
                spans.append((offset, offset + size))
            offset += size
        astral += offset - first - (end - start)
    return spans


@lru_cache(maxsize=4096)
def _run_cluster_sizes(run: str) -> tuple[int, ...]:
    """UTF-16 sizes of the clusters of a run (runs repeat: the same emoji, the same syllables)."""
    return tuple(len(cluster.encode("utf-16-le", "surrogatepass")) >> 1 for cluster in graphemes(run))


# --- grapheme clusters ------------------------------------------------------------------------
# A port of the rules of the npm ``grapheme-splitter`` package (UAX #29 as of Unicode 10.0) that
# Twilio's calculator uses, quirks included, in one pass. So ZWJ only joins the emoji Unicode 10
# allowed there (👩‍💻 is one cluster, 🧑‍🤝‍🧑 three), skin tones only join Unicode 10's emoji bases,
# and there are no Indic conjuncts. Character properties come from Python's unicodedata, with the
# Unicode 10 emoji classes written out and the marks and format characters added up to Unicode 14
# (Python 3.11) kept as Other, as that package has them; checked against it for every code point
# of planes 0-3 and 14. On a Python with newer Unicode data, marks added since (rare scripts) would
# join where the package doesn't.

# Grapheme break properties; none is 0, so a cached one is never falsy.
(
    _OTHER, _CR, _LF, _CONTROL, _EXTEND, _RI, _PREPEND, _SPACING_MARK, _L, _V, _T, _LV, _LVT,
    _E_BASE, _E_MODIFIER, _ZWJ, _GLUE_AFTER_ZWJ, _E_BASE_GAZ,
) = range(1, 19)  # fmt: skip

_PREPEND_CHARS = frozenset(
    [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x08E2, 0x0D4E, 0x110BD, 0x111C2, 0x111C3, 0x11A3A,
     *range(0x11A86, 0x11A8A), 0x11D46]
)  # fmt: skip
# Spacing marks (Mc) that Unicode 10 classes Extend, and the letters/marks it classes Extend too.
_OTHER_GRAPHEME_EXTEND = frozenset(
    [0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57, 0x0DCF,
     0x0DDF, 0x200C, 0x302E, 0x302F, 0xFF9E, 0xFF9F, 0x1133E, 0x11357, 0x114B0, 0x114BD, 0x115AF,
     0x1D165, *range(0x1D16E, 0x1D173), *range(0xE0020, 0xE0080)]
)  # fmt: skip
# Spacing marks (Mc) that Unicode 10 leaves as Other, and the letters it makes SpacingMark.
_NOT_SPACING_MARK = frozenset(
    [0x102B, 0x102C, 0x1038, 0x1062, 0x1063, 0x1064, *range(0x1067, 0x106E), 0x1083,
     *range(0x1087, 0x108D), 0x108F, 0x109A, 0x109B, 0x109C, 0x1A61, 0x1A63, 0x1A64, 0xAA7B, 0xAA7D]
)  # fmt: skip
_SPACING_LETTERS = frozenset([0x0E33, 0x0EB3, 0x1CF2, 0x1CF3])
# Marks assigned (or made marks) after Unicode 10, as of Python 3.11's Unicode 14 data: Other to
# grapheme-splitter.
_LATER_MARK_RANGES = (
    (0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8D3), (0x9FE, 0x9FE), (0xB55, 0xB55), (0xC04, 0xC04),
    (0xC3C, 0xC3C), (0xD81, 0xD81), (0xEBA, 0xEBA), (0x1715, 0x1715), (0x180F, 0x180F), (0x1ABF, 0x1ACE),
    (0x1DFA, 0x1DFA), (0xA82C, 0xA82C), (0xA8FF, 0xA8FF), (0x10D24, 0x10D27), (0x10EAB, 0x10EAC),
    (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070), (0x11073, 0x11074), (0x110C2, 0x110C2),
    (0x11145, 0x11146), (0x111C9, 0x111C9), (0x111CE, 0x111CF), (0x1133B, 0x1133B), (0x1145E, 0x1145E),
    (0x1182C, 0x1183A), (0x11930, 0x11935), (0x11937, 0x11938), (0x1193B, 0x1193E), (0x11940, 0x11940),
    (0x11942, 0x11943), (0x119D1, 0x119D7), (0x119DA, 0x119E0), (0x119E4, 0x119E4), (0x11D8A, 0x11D8E),
    (0x11D90, 0x11D91), (0x11D93, 0x11D97), (0x11EF3, 0x11EF6), (0x16F4F, 0x16F4F), (0x16F7F, 0x16F87),
    (0x16FE4, 0x16FE4), (0x16FF0, 0x16FF1), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1E130, 0x1E136),
    (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF),
)  # fmt: skip
_LATER_MARKS = frozenset(code for low, high in _LATER_MARK_RANGES for code in range(low, high + 1))
# Format characters assigned after Unicode 10, which grapheme-splitter still has as Other.
_LATER_FORMAT = frozenset([0x0890, 0x0891, 0x110CD, *range(0x13430, 0x13439)])
# Unassigned code points that Unicode 10 already classes Control.
_CONTROL_UNASSIGNED = ((0x2065, 0x2065), (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF))

_E_BASE_RANGES = (
    (0x261D, 0x261D), (0x26F9, 0x26F9), (0x270A, 0x270D), (0x1F385, 0x1F385), (0x1F3C2, 0x1F3C4),
    (0x1F3C7, 0x1F3C7), (0x1F3CA, 0x1F3CC), (0x1F442, 0x1F443), (0x1F446, 0x1F450), (0x1F46E, 0x1F46E),
    (0x1F470, 0x1F478), (0x1F47C, 0x1F47C), (0x1F481, 0x1F483), (0x1F485, 0x1F487), (0x1F4AA, 0x1F4AA),
    (0x1F574, 0x1F575), (0x1F57A, 0x1F57A), (0x1F590, 0x1F590), (0x1F595, 0x1F596), (0x1F645, 0x1F647),
    (0x1F64B, 0x1F64F), (0x1F6A3, 0x1F6A3), (0x1F6B4, 0x1F6B6), (0x1F6C0, 0x1F6C0), (0x1F6CC, 0x1F6CC),
    (0x1F918, 0x1F91C), (0x1F91E, 0x1F91F), (0x1F926, 0x1F926), (0x1F930, 0x1F939), (0x1F93D, 0x1F93E),
    (0x1F9D1, 0x1F9DD),
)  # fmt: skip
_E_BASE_CHARS = frozenset(code for low, high in _E_BASE_RANGES for code in range(low, high + 1))
_GLUE_AFTER_ZWJ_CHARS = frozenset(
    [0x2640, 0x2642, 0x2695, 0x2696, 0x2708, 0x2764, 0x1F308, 0x1F33E, 0x1F373, 0x1F393, 0x1F3A4,
     0x1F3A8, 0x1F3EB, 0x1F3ED, 0x1F48B, 0x1F4BB, 0x1F4BC, 0x1F527, 0x1F52C, 0x1F5E8, 0x1F680, 0x1F692]
)  # fmt: skip

_CONTROLS = (_CONTROL, _CR, _LF)
_PLAIN_JOINERS = (_EXTEND, _ZWJ, _SPACING_MARK)
# Characters that may join the one before them, whatever it is (syllables only join a leading jamo).
_JOINING = frozenset([_EXTEND, _ZWJ, _SPACING_MARK, _E_MODIFIER, _RI, _L, _V, _T, _GLUE_AFTER_ZWJ, _E_BASE_GAZ])
# Only these can continue a cluster (or anything after a Prepend): a break comes before any other.
_MAY_JOIN = frozenset(
    [_EXTEND, _ZWJ, _SPACING_MARK, _E_MODIFIER, _RI, _L, _V, _T, _LV, _LVT, _GLUE_AFTER_ZWJ, _E_BASE_GAZ]
)
_NO_LEAD_FOR_MODIFIER = (_EXTEND, _E_BASE, _E_BASE_GAZ)
_E_BASES = (_E_BASE, _E_BASE_GAZ)
_AFTER_ZWJ = (_GLUE_AFTER_ZWJ, _E_BASE_GAZ)
_HANGUL_AFTER_L = (_L, _V, _LV, _LVT)


def _break_property(code: int) -> int:
    if code in _PREPEND_CHARS:
        return _PREPEND
    if code == 0x0D:
        return _CR
    if code == 0x0A:
        return _LF
    if code == 0x200D:
        return _ZWJ
    if code in _OTHER_GRAPHEME_EXTEND:
        return _EXTEND
    if 0x1F3FB <= code <= 0x1F3FF:
        return _E_MODIFIER
    if 0x1F1E6 <= code <= 0x1F1FF:
        return _RI
    category = unicodedata.category(chr(code))
    if category in ("Cc", "Zl", "Zp", "Cs") or (category == "Cf" and code not in _LATER_FORMAT):
        return _CONTROL
    if category == "Cn" and any(low <= code <= high for low, high in _CONTROL_UNASSIGNED):
        return _CONTROL
    if category in ("Mn", "Me", "Mc") and code in _LATER_MARKS:
        return _OTHER
    if category in ("Mn", "Me"):
        return _EXTEND
    if category == "Mc":
        return _OTHER if code in _NOT_SPACING_MARK else _SPACING_MARK
    if code in _SPACING_LETTERS:
        return _SPACING_MARK
    if 0xAC00 <= code <= 0xD7A3:
        return _LV if (code - 0xAC00) % 28 == 0 else _LVT
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return _L
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return _V
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return _T
    if code in _E_BASE_CHARS:
        return _E_BASE
    if code in _GLUE_AFTER_ZWJ_CHARS:
        return _GLUE_AFTER_ZWJ
    if 0x1F466 <= code <= 0x1F469:
        return _E_BASE_GAZ
    return _OTHER


_PROPERTY_CACHE: dict[str, int] = {}


def _property(char: str) -> int:
    prop = _PROPERTY_CACHE.get(char)
    if prop is None:
        prop = _PROPERTY_CACHE[char] = _break_property(ord(char))
    return prop


def graphemes(text: str) -> list[str]:
    """Split ``text`` into grapheme clusters as Twilio's calculator does (CR LF counts as two)."""
    clusters: list[str] = []
    if not text:
        return clusters
    cut = 0
    properties = [_PROPERTY_CACHE.get(char) or _property(char) for char in text]
    # State of the cluster being built: its first property, then everything grapheme-splitter's
    # shouldBreak(start, mid, next) reads of the properties after it ("mid"), kept as it goes.
    start = prev = prev2 = properties[0]
    mid = ext_run = ri_run = last_modifier = last_ri = 0
    last_extend = 0 if start == _EXTEND else -1
    for index in range(1, len(text)):
        nxt = properties[index]
        if nxt in _PLAIN_JOINERS and not last_modifier and not last_ri and prev not in _CONTROLS:
            pass  # GB9/GB9a, when neither look-ahead terminator can apply: the usual mark
        elif (nxt not in _MAY_JOIN and prev != _PREPEND) or _breaks(
            start, prev, prev2, mid, ext_run, ri_run, last_modifier, last_ri, last_extend, nxt
        ):
            clusters.append(text[cut:index])
            cut = index
            start = prev = prev2 = nxt
            mid = ext_run = ri_run = last_modifier = last_ri = 0
            last_extend = 0 if nxt == _EXTEND else -1
            continue
        mid += 1
        prev2, prev = prev, nxt
        if nxt == _EXTEND:
            last_extend = mid
            if ext_run == mid - 1:
                ext_run = mid
        elif nxt == _RI:
            last_ri = mid
            if ri_run == mid - 1:
                ri_run = mid
        elif nxt == _E_MODIFIER:
            last_modifier = mid
    clusters.append(text[cut:])
    return clusters


def _breaks(start, prev, prev2, mid, ext_run, ri_run, last_modifier, last_ri, last_extend, nxt) -> bool:
    """grapheme-splitter's shouldBreak; positions count from the cluster's start (0), mid is 1..mid.

    ext_run / ri_run: how many of mid's first properties are Extend / Regional_Indicator;
    last_modifier / last_ri: position of the last E_Modifier / RI in mid (0: none);
    last_extend: position of the last Extend including the start (-1: none).
    """
    # Look-ahead terminator for GB10: an emoji modifier after Extend* that follows no emoji base.
    modifier_at = mid + 1 if nxt == _E_MODIFIER else last_modifier
    if modifier_at > 1 and ext_run >= modifier_at - 1 and start not in _NO_LEAD_FOR_MODIFIER:
        return True
    # Look-ahead terminator for GB12/13 (regional indicators).
    ri_at = mid + 1 if nxt == _RI else last_ri
    if ri_at > 0 and ri_run >= ri_at - 1 and prev not in (_PREPEND, _RI):
        return True
    if prev in _CONTROLS or nxt in _CONTROLS:  # GB4, GB5; no GB3, since Twilio splits CR LF in two again
        return True
    if prev == _L and nxt in _HANGUL_AFTER_L:  # GB6
        return False
    if prev in (_LV, _V) and nxt in (_V, _T):  # GB7
        return False
    if prev in (_LVT, _T) and nxt == _T:  # GB8
        return False
    if nxt in (_EXTEND, _ZWJ, _SPACING_MARK) or prev == _PREPEND:  # GB9, GB9a, GB9b
        return False
    if nxt == _E_MODIFIER:  # GB10, with the package's reading of "the last non-Extend"
        if last_extend < 0:
            if prev in _E_BASES:
                return False
        elif last_extend == mid and mid >= 1 and prev2 in _E_BASES:
            return False
    if prev == _ZWJ and nxt in _AFTER_ZWJ:  # GB11 (Unicode 10)
        return False
    if last_ri:  # GB12, GB13
        return True
    return not (prev == _RI and nxt == _RI)


@lru_cache(maxsize=1)
def _joinable_runs() -> re.Pattern[str]:
    """A pattern for the places where a grapheme cluster may hold more than one character.

    A cluster can only go on at a character that may join the one before it (a mark, ZWJ, an emoji
    modifier, a regional indicator, a conjoining jamo or a syllable after a leading one, an emoji
    that may follow ZWJ) or after a Prepend character; everywhere else a new cluster starts. A
    match starts at such a character, a Prepend one or any astral one, and takes every character
    after it that may join; from the character before it when it may join that one. Runs so taken
    start and end at cluster boundaries: they are whole clusters, one or more, for the rules to
    split, and every astral character is in one. Built on first use: it reads the Unicode database
    for marks, which takes some tens of milliseconds, once.
    """
    codes = {code for code in range(0x20000) if unicodedata.category(chr(code))[0] == "M"}
    codes.update(_OTHER_GRAPHEME_EXTEND, _SPACING_LETTERS, _GLUE_AFTER_ZWJ_CHARS, range(0xE0000, 0xE1000))
    codes.update(range(0x1F3FB, 0x1F400), range(0x1F1E6, 0x1F200), range(0x1F466, 0x1F46A), [0x200D])
    codes.update(range(0x1100, 0x1200), range(0xA960, 0xA97D), range(0xD7B0, 0xD7FC))
    joiners = [code for code in codes if _break_property(code) in _JOINING]
    # The BMP's joiners and Prepend characters, and every astral character: one class, which the
    # regex engine tests as a bitmap and a range. Astral joiners sit behind a cheap guard.
    first = (
        _char_class(code for code in (*joiners, *_PREPEND_CHARS) if code <= 0xFFFF)[:-1] + "\\U00010000-\\U0010ffff]"
    )
    bmp_joiner = _char_class(code for code in joiners if code <= 0xFFFF)
    astral_joiner = _char_class(code for code in joiners if code > 0xFFFF)
    prepend = _char_class(_PREPEND_CHARS)
    leading_jamo = _char_class(code for code in joiners if _break_property(code) == _L)
    after = (
        f"{bmp_joiner}|(?=[\\U00010000-\\U0010ffff]){astral_joiner}"
        f"|(?<={prepend}).|(?<={leading_jamo})[\\uac00-\\ud7a3]"
    )
    return re.compile(f"(?s:{first}(?:{after})*)")


def _char_class(codes: Iterable[int]) -> str:
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges) + "]"
