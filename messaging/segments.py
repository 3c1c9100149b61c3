"""SMS segment counting, as Twilio's message segment calculator counts.

GSM-7 (3GPP TS 23.038 basic table, plus the extension table whose characters take two
septets) when every character fits, UCS-2 otherwise. One segment holds 160 septets or 70
UTF-16 units; split messages hold 153 or 67 per segment. Characters are placed whole:
an escape pair, a surrogate pair and a grapheme cluster (joined emoji, flags, keycaps,
skin tones, combining marks) never straddle two segments, so a message can need one more
segment than a plain division says.
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
_GSM7 = frozenset(GSM7_BASIC) | frozenset(GSM7_EXTENSION)
_EXTENSION = frozenset(GSM7_EXTENSION)
# Plain printable ASCII minus the four ASCII characters outside GSM-7's basic table and the
# extension ones: text made only of these is GSM-7 with one septet per character.
_SIMPLE = re.compile(r"[A-Za-z0-9 !\"#%&'()*+,\-./:;<=>?@_\n\r£$]*")

GSM_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "\u0060": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": "-",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u2007": " ",
    "\u2008": " ", "\u205f": " ", "\u3000": " ", "\t": " ",
    "\u200b": "", "\u200c": "", "\ufeff": "",
}  # fmt: skip

SINGLE_SEGMENT = {"GSM-7": 160, "UCS-2": 70}
PER_SEGMENT = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    non_gsm: tuple[str, ...] = ()  # characters that force UCS-2, in order of first appearance


def is_gsm7(text: str) -> bool:
    return bool(_SIMPLE.fullmatch(text)) or all(char in _GSM7 for char in text)


def gsm_replace(text: str) -> str:
    """Swap look-alike characters (smart quotes, dashes, ellipsis, odd spaces) for GSM-7 ones."""
    return "".join(GSM_REPLACEMENTS.get(char, char) for char in text)


# --- grapheme clusters (the cases SMS text meets; after UAX #29) -------------------------------

ZWJ = "\u200d"


def _is_extend(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or code == 0x20E3  # combining enclosing keycap
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def graphemes(text: str) -> list[str]:
    clusters: list[str] = []
    index, size = 0, len(text)
    while index < size:
        start = index
        char = text[index]
        index += 1
        if char == "\r" and index < size and text[index] == "\n":
            clusters.append("\r\n")
            continue
        if _is_regional_indicator(char) and index < size and _is_regional_indicator(text[index]):
            index += 1
        while index < size:
            nxt = text[index]
            if _is_extend(nxt):
                index += 1
            elif nxt == ZWJ:
                index += 1
                if index < size and not text[index].isspace():
                    index += 1  # ZWJ joins the next pictograph into this cluster
            else:
                break
        clusters.append(text[start:index])
    return clusters


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _septets(char: str) -> int:
    return 2 if char in _EXTENSION else 1


def _count(units: list[int], encoding: str) -> int:
    total = sum(units)
    if total <= SINGLE_SEGMENT[encoding]:
        return 1
    limit, segments, used = PER_SEGMENT[encoding], 1, 0
    for size in units:
        if used + size > limit:
            segments += 1
            used = 0
        used += size
    return segments


def segment_info(text: str) -> SegmentInfo:
    if not text:
        return SegmentInfo("GSM-7", 1, 0)
    if _SIMPLE.fullmatch(text):
        size = len(text)
        return SegmentInfo("GSM-7", 1 if size <= 160 else -(-size // 153), size)
    return _segment_info(text)


@lru_cache(maxsize=4096)
def _segment_info(text: str) -> SegmentInfo:
    if all(char in _GSM7 for char in text):
        units = [_septets(char) for char in text]
        return SegmentInfo("GSM-7", _count(units, "GSM-7"), sum(units))
    non_gsm = tuple(dict.fromkeys(char for char in text if char not in _GSM7))
    units = [_utf16_units(cluster) for cluster in graphemes(text)]
    return SegmentInfo("UCS-2", _count(units, "UCS-2"), sum(units), non_gsm)
