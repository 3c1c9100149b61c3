"""Recognising an unsubscribe instruction in a text (Spam Act 2003 s18).

Used by the tenant's opt-out line check (every campaign message ends with that line, so it must
be a working instruction) and by the message renderer (which adds the line only when the text
lacks an instruction of its own, and falls back to ``DEFAULT_OPT_OUT_LINE`` when a stored line
is not one).
"""

from __future__ import annotations

import re

DEFAULT_OPT_OUT_LINE = "Reply STOP to opt out"

# "reply STOP", "Reply with the word 'STOP'", "text STOP to 0412...", "txt stop", "SMS STOP",
# "opt out: reply stop", "reply UNSUBSCRIBE": a verb, a few filler words at most, then a keyword
# the inbound handler honours (messaging.keywords; the unambiguous ones: "reply END" could be
# copy). Sentence punctuation may not come between, so ordinary copy such as "text us anytime,
# or stop by" or "reply. Stop wasting time" does not count.
_GAP = r"[\s\"'\u2018\u2019\u201c\u201d:\-]+"
UNSUBSCRIBE = re.compile(
    rf"\b(?:reply|text|txt|sms|send|msg)(?:{_GAP}(?:with|the|word|us|back|just|only|keyword)){{0,3}}"
    rf"{_GAP}(?:stop|stopall|unsubscribe|optout|opt{_GAP}out)\b(?!{_GAP}(?:by|in|into|over|past|off|at)\b)",
    re.IGNORECASE,
)
# "Do not reply STOP", "don't text STOP", "never reply STOP": the opposite of an instruction.
_NEGATED = re.compile(
    r"\b(?:do\s+not|don[\u2019']?t|dont|never|no\s+need\s+to)\s+(?:reply|text|txt|sms|send|msg)\b", re.IGNORECASE
)


def has_opt_out_instruction(text: str) -> bool:
    """True when ``text`` tells the reader to reply (text, SMS…) STOP or another opt-out keyword."""
    text = text or ""
    return bool(UNSUBSCRIBE.search(text)) and not _NEGATED.search(text)
