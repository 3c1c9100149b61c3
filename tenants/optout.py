"""Recognising an unsubscribe instruction in a text (Spam Act 2003 s18).

Used by the tenant's opt-out line check (every campaign message ends with that line, so it must
be a working instruction) and by the message renderer (which adds the line only when the text
lacks an instruction of its own).
"""

from __future__ import annotations

import re

# "reply STOP", "Reply with the word 'STOP'", "text STOP to 0412...", "txt stop", "SMS STOP",
# "opt out: reply stop". Only a few filler words may come between the verb and STOP, and
# sentence punctuation may not, so ordinary copy such as "text us anytime, or stop by" or
# "reply. Stop wasting time" does not count as an opt-out.
_GAP = r"[\s\"'\u2018\u2019\u201c\u201d:\-]+"
UNSUBSCRIBE = re.compile(
    rf"\b(?:reply|text|txt|sms|send|msg)(?:{_GAP}(?:with|the|word|us|back|just|only|keyword)){{0,3}}"
    rf"{_GAP}stop\b(?!{_GAP}(?:by|in|into|over|past|off|at)\b)",
    re.IGNORECASE,
)


def has_opt_out_instruction(text: str) -> bool:
    """True when ``text`` tells the reader to reply (text, SMS…) STOP."""
    return bool(UNSUBSCRIBE.search(text or ""))
