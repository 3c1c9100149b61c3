"""A small, safe renderer for SMS template bodies (not Django's template engine).

Placeholders are ``{{ name }}`` or ``{{ name|fallback }}`` (spaces inside the braces optional);
names are the built-in fields and the tenant's custom fields. No tags, no filters, no attribute
access: a value is inserted as literal text and never rendered again. A lone ``}}`` is literal
text; a lone ``{{`` or any ``{% ... %}`` is an error. Error messages give 1-based character
positions; ``Placeholder.start``/``end`` are 0-based offsets (``body[start:end]``).

``finalise`` makes every message identify the sender and end with a functional unsubscribe
(Spam Act 2003 ss17-18), adding either only when it is missing, so it is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from contacts.models import BUILT_IN_PLACEHOLDERS
from tenants.optout import DEFAULT_OPT_OUT_LINE, has_opt_out_instruction

BUILTIN_FIELDS = BUILT_IN_PLACEHOLDERS

# A placeholder may not contain "{{" or "}}" (nor a tag "{%"/"%}"), so "{{ first_name, see {{ link }}" reports the
# first "{{" as unclosed rather than swallowing the text up to the next "}}".
_TOKEN = re.compile(r"\{\{((?:(?!\{\{|\}\}).)*)\}\}|\{%(?:(?!\{%|%\}).)*%\}|\{\{|\{%", re.DOTALL)
_PLACEHOLDER = re.compile(r"\s*([a-z][a-z0-9_]*)\s*(?:\|([^|]*))?", re.DOTALL)
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S*", re.IGNORECASE)
_TRAILING = " \t\r\n.!?,;:"


class TemplateError(ValueError):
    """A body that cannot be rendered; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str
    start: int
    end: int


@dataclass(frozen=True)
class CompiledBody:
    parts: tuple  # str literals and (name, fallback) pairs


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}\u2026"


_USAGE = "use {{ name }} or {{ name|fallback }} with a lowercase name (no dots, filters or tags)"


def _scan(body: str) -> tuple[list[Placeholder], list[tuple[int, str]]]:
    """Placeholders and syntax errors, each error as (position, message)."""
    found, errors = [], []
    for match in _TOKEN.finditer(body):
        text, start = match.group(0), match.start()
        where = f"at character {start + 1}"
        if text.startswith("{%"):
            errors.append((start, f"Tag {_shorten(text)} {where} is not allowed; {_USAGE}."))
        elif match.group(1) is None:
            errors.append((start, f"Unclosed {{{{ {where}; close it with }}}}."))
        elif inner := _PLACEHOLDER.fullmatch(match.group(1)):
            found.append(Placeholder(inner.group(1), (inner.group(2) or "").strip(), start, match.end()))
        else:
            errors.append((start, f"Invalid placeholder {_shorten(text)} {where}; {_USAGE}."))
    return found, errors


def placeholders(body: str) -> list[Placeholder]:
    """The placeholders in a body, in order; TemplateError on a syntax error (names are not checked)."""
    found, errors = _scan(body)
    if errors:
        raise TemplateError([message for _, message in errors])
    return found


def _check(body: str, custom_fields: Iterable[str]) -> tuple[list[Placeholder], list[str]]:
    """Placeholders and every problem (syntax and unknown names), in order of position."""
    found, errors = _scan(body)
    known = (*BUILTIN_FIELDS, *sorted(set(custom_fields) - set(BUILTIN_FIELDS)))
    for item in found:
        if item.name not in known:
            message = (
                f"Unknown placeholder {{{{ {item.name} }}}} at character {item.start + 1}; known: {', '.join(known)}."
            )
            errors.append((item.start, message))
    return found, [message for _, message in sorted(errors, key=lambda error: error[0])]


def uses_link(body: str) -> bool:
    """True when the body inserts ``{{ link }}`` with no fallback: it needs the campaign's Link URL,
    or the message would end "Shop now:" with nothing after it."""
    found, _errors = _scan(body)
    return any(item.name == "link" and not item.fallback for item in found)


def validate_body(body: str, *, custom_fields: Iterable[str] = ()) -> list[str]:
    """Every problem with a body, [] when it is fine."""
    return _check(body, custom_fields)[1]


def compile_body(body: str, *, custom_fields: Iterable[str] = ()) -> CompiledBody:
    """Check a body and split it into literals and (name, fallback) pairs; TemplateError if it is bad."""
    return _compile(body, tuple(sorted(set(custom_fields))))


@lru_cache(maxsize=1024)
def _compile(body: str, custom_fields: tuple[str, ...]) -> CompiledBody:
    found, errors = _check(body, custom_fields)
    if errors:
        raise TemplateError(errors)
    parts: list = []
    position = 0
    for item in found:
        if item.start > position:
            parts.append(body[position : item.start])
        parts.append((item.name, item.fallback))
        position = item.end
    if position < len(body):
        parts.append(body[position:])
    return CompiledBody(tuple(parts))


def render(compiled: CompiledBody, values: Mapping[str, str]) -> str:
    """Fill the placeholders; a missing, empty or blank value gives the fallback (or "")."""
    out = []
    for part in compiled.parts:
        if part.__class__ is str:
            out.append(part)
        else:
            value = values.get(part[0])
            value = value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())
            out.append(value or part[1])
    return "".join(out)


@lru_cache(maxsize=256)
def _normalised(text: str) -> str:
    """Case-folded, whitespace collapsed, trailing punctuation dropped."""
    return _SPACES.sub(" ", text).strip(_TRAILING).casefold()


@lru_cache(maxsize=256)
def _name_check(business_name: str) -> tuple[str, re.Pattern[str]] | None:
    name = _normalised(business_name)
    if not name:
        return None
    prefix = _SPACES.sub(" ", business_name.strip()).casefold() + ":"
    return prefix, re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")


def finalise(text: str, *, business_name: str, opt_out_line: str) -> str:
    """Identify the sender and end with the opt-out line, each added only when missing.

    The sender counts as identified when the business name appears as whole words outside any
    URL (case and spacing ignored). The opt-out counts as present when the opt-out line appears
    (case, spacing and trailing punctuation ignored) or the text already says "reply STOP" or
    the like. The opt-out line goes on its own last line.
    """
    check = _name_check(business_name)
    if check is not None:
        prefix, pattern = check
        flat = _SPACES.sub(" ", text).strip().casefold()
        if not flat.startswith(prefix) and not pattern.search(_URL.sub(" ", flat)):
            text = f"{business_name.strip()}: {text.lstrip()}"
    if not has_opt_out_instruction(opt_out_line):
        opt_out_line = DEFAULT_OPT_OUT_LINE  # a line stored before the rule: never a message without one
    line = _normalised(opt_out_line)
    if line and line not in _SPACES.sub(" ", text).casefold() and not has_opt_out_instruction(text):
        text = f"{text.rstrip()}\n{opt_out_line.strip()}"
    return text


def render_message(compiled: CompiledBody, values: Mapping[str, str], *, business_name: str, opt_out_line: str) -> str:
    """render() then finalise(): the text that is sent."""
    return finalise(render(compiled, values), business_name=business_name, opt_out_line=opt_out_line)
