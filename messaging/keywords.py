"""What an inbound text asks for: opt out, opt back in, help, or nothing (a reply).

Keywords match the WHOLE body, trimmed, case-insensitively, with trailing punctuation ignored
(Twilio's own rule, docs/twilio.md). Australian law also honours any clear request in other words
(docs/compliance-au.md), so a body that contains one of the tenant's opt-out phrases, as whole
words, opts out too; the inbox flags those with the phrase that matched, for staff to see.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from django.db import models

# The built-in clear requests in other words live with the tenant setting they default.
from tenants.models import DEFAULT_OPT_OUT_PHRASES

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT OUT", "REVOKE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


class Intent(models.TextChoices):
    OPT_OUT = "opt_out", "Opt-out keyword"
    OPT_OUT_PHRASE = "opt_out_phrase", "Opt-out request in other words"
    OPT_IN = "opt_in", "Opt-in keyword"
    HELP = "help", "Help keyword"
    REPLY = "reply", "Reply"


# A STOP keyword and a request to stop in other words both opt the contact out.
OPT_OUT_INTENTS = (Intent.OPT_OUT, Intent.OPT_OUT_PHRASE)


@dataclass(frozen=True)
class Classification:
    intent: Intent
    matched: str = ""  # the keyword or phrase that matched

    @property
    def opts_out(self) -> bool:
        return self.intent in OPT_OUT_INTENTS


_TRAILING = re.compile(r"[\s.!?,;:'\"()\[\]*~-]+$")
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]")


def keyword_form(body: str) -> str:
    """The body as keywords are compared: trimmed, upper-case, single spaces, no trailing punctuation."""
    text = unicodedata.normalize("NFKC", body or "").strip()
    text = _TRAILING.sub("", text)
    return _SPACES.sub(" ", text).upper()


def phrase_form(text: str) -> str:
    """Lower-case words separated by single spaces; apostrophes vanish (don't → dont)."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace("'", "").replace("\u2019", "")
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()


def phrases_of(configured: str) -> tuple[str, ...]:
    """The tenant's opt-out phrases (one per line), or the defaults when none are set."""
    lines = tuple(phrase_form(line) for line in (configured or "").splitlines())
    return tuple(line for line in lines if line) or DEFAULT_OPT_OUT_PHRASES


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)")


def classify(body: str, *, opt_out_type: str = "", phrases: str = "") -> Classification:
    """What an inbound body asks for. ``opt_out_type`` is Twilio's OptOutType when present."""
    word = keyword_form(body)
    hint = (opt_out_type or "").strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return Classification(Intent.OPT_OUT, word)
    if hint == "STOP":
        return Classification(Intent.OPT_OUT, "OptOutType=STOP")
    if word in OPT_IN_KEYWORDS:
        return Classification(Intent.OPT_IN, word)
    if hint == "START":
        return Classification(Intent.OPT_IN, "OptOutType=START")
    if word in HELP_KEYWORDS:
        return Classification(Intent.HELP, word)
    if hint == "HELP":
        return Classification(Intent.HELP, "OptOutType=HELP")
    found = _phrase_pattern(phrases_of(phrases)).search(phrase_form(body))
    if found:
        return Classification(Intent.OPT_OUT_PHRASE, found.group(1))
    return Classification(Intent.REPLY)
