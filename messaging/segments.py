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


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2
    non_gsm: tuple[str, ...] = ()  # distinct characters forcing UCS-2, in order of first appearance


def is_gsm7(text: str) -> bool:
    """Whether every character is in GSM-7's basic or extension table."""
    return _ANY_GSM7.fullmatch(text) is not None


def gsm_replace(text: str) -> str:
    """Swap look-alikes (smart quotes, dashes, ellipsis, odd spaces...) for GSM-7 basic characters."""
    return text.translate(_REPLACE_TABLE)


def segment_info(text: str) -> SegmentInfo:
    """Encoding, segment count and size of ``text`` as Twilio's segment calculator reports them."""
    if _BASIC_ONLY.fullmatch(text) is not None:  # the common case: one septet per character
        size = len(text)
        return SegmentInfo("GSM-7", 1 if size <= 160 else -(-size // 153), size)
    return _segment_info(text)


@lru_cache(maxsize=2048)
def _segment_info(text: str) -> SegmentInfo:
    if _ANY_GSM7.fullmatch(text) is not None:
        # GSM-7 text is one cluster per character (CR LF is two for Twilio), so only the two-septet
        # escape pairs need placing.
        units = len(text) + len(_EXTENSION_CHAR.findall(text))
        if units <= 160:
            return SegmentInfo("GSM-7", 1, units)
        sizes = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return SegmentInfo("GSM-7", _count_segments(sizes, units, 160, 153), units)
    non_gsm = tuple(dict.fromkeys(char for char in text if char not in _GSM7))
    units = len(text) + sum(1 for char in text if char > "\uffff")
    if units <= 70:
        return SegmentInfo("UCS-2", 1, units, non_gsm)
    sizes = [len(cluster) + sum(1 for char in cluster if char > "\uffff") for cluster in graphemes(text)]
    return SegmentInfo("UCS-2", _count_segments(sizes, units, 70, 67), units, non_gsm)


def _count_segments(sizes: list[int], total: int, single: int, per_segment: int) -> int:
    """Segments for clusters of these sizes, placed as Twilio's ``_buildSegments`` places them."""
    if total <= single:
        return 1
    used = overflow = 0
    while used + sizes[overflow] <= single:
        used += sizes[overflow]
        overflow += 1
    # sizes[overflow] doesn't fit: the first segment takes its header, and its last clusters move
    # to the second until it holds per_segment at most (all of them, if the first is that big).
    keep = overflow
    while used > per_segment:
        keep -= 1
        used -= sizes[keep]
    segments, used = 2, sum(sizes[keep : overflow + 1])
    for size in sizes[overflow + 1 :]:
        if used + size > per_segment:
            segments += 1
            used = 0
        used += size
    return segments


# --- grapheme clusters ------------------------------------------------------------------------
# A port of the rules of the npm ``grapheme-splitter`` package (UAX #29 as of Unicode 10.0) that
# Twilio's calculator uses, quirks included, in one pass. Character properties come from Python's
# unicodedata, with the Unicode 10 emoji classes written out; characters assigned after Unicode 10
# (rare marks of historic or minority scripts, newer emoji) may be classed as the current
# Unicode data says rather than as "Other" as that package has them.

(
    _OTHER, _CR, _LF, _CONTROL, _EXTEND, _RI, _PREPEND, _SPACING_MARK,
    _L, _V, _T, _LV, _LVT, _E_BASE, _E_MODIFIER, _ZWJ, _GLUE_AFTER_ZWJ, _E_BASE_GAZ,
) = range(18)  # fmt: skip

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
# Spacing marks (Mc) that Unicode 10 leaves as Other, and the two letters it makes SpacingMark.
_NOT_SPACING_MARK = frozenset(
    [0x102B, 0x102C, 0x1038, 0x1062, 0x1063, 0x1064, *range(0x1067, 0x106E), 0x1083,
     *range(0x1087, 0x108D), 0x108F, 0x109A, 0x109B, 0x109C, 0x1A61, 0x1A63, 0x1A64, 0xAA7B, 0xAA7D,
     0x11720, 0x11721]
)  # fmt: skip
_SPACING_LETTERS = frozenset([0x0E33, 0x0EB3])
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
_E_BASE = frozenset(code for low, high in _E_BASE_RANGES for code in range(low, high + 1))
_GLUE_AFTER_ZWJ_CHARS = frozenset(
    [0x2640, 0x2642, 0x2695, 0x2696, 0x2708, 0x2764, 0x1F308, 0x1F33E, 0x1F373, 0x1F393, 0x1F3A4,
     0x1F3A8, 0x1F3EB, 0x1F3ED, 0x1F48B, 0x1F4BB, 0x1F4BC, 0x1F527, 0x1F52C, 0x1F5E8, 0x1F680, 0x1F692]
)  # fmt: skip

_CONTROLS = (_CONTROL, _CR, _LF)
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
    if code in _E_BASE:
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
    # State of the cluster being built: its first property, then everything grapheme-splitter's
    # shouldBreak(start, mid, next) reads of the properties after it ("mid"), kept as it goes.
    start = prev = prev2 = _property(text[0])
    mid = ext_run = ri_run = last_modifier = last_ri = 0
    last_extend = 0 if start == _EXTEND else -1
    for index in range(1, len(text)):
        nxt = _property(text[index])
        if _breaks(start, prev, prev2, mid, ext_run, ri_run, last_modifier, last_ri, last_extend, nxt):
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
    if prev == _CR and nxt == _LF:  # GB3
        return False
    if prev in _CONTROLS or nxt in _CONTROLS:  # GB4, GB5
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
