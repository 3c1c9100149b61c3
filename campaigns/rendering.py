"""A small, safe renderer for SMS template bodies (not Django's template engine).

Placeholders are ``{{ name }}`` or ``{{ name|fallback }}``; names are the built-in fields and
the tenant's custom fields. No tags, no filters, no attribute access: a value is inserted as
literal text and never rendered again. ``finalise`` makes every message identify the sender
and end with the opt-out line (Spam Act ss17-18), adding either only when it is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

BUILTIN_FIELDS = ("first_name", "last_name", "business_name", "link")

_TOKEN = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{\{|\{%", re.DOTALL)
_PLACEHOLDER = re.compile(r"\s*([a-z][a-z0-9_]*)\s*(?:\|([^|}]*))?\s*$")
_SPACES = re.compile(r"\s+")
# An unsubscribe instruction already in the text: "reply STOP", "text STOP to 0412…", "txt stop".
_UNSUBSCRIBE = re.compile(r"\b(reply|text|txt|sms|send|msg)\b(\W+\w+){0,3}?\W+stop\b", re.IGNORECASE)


class TemplateError(ValueError):
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


def _scan(body: str) -> tuple[list[Placeholder], list[str]]:
    found, errors = [], []
    for match in _TOKEN.finditer(body):
        text = match.group(0)
        where = f"at character {match.start() + 1}"
        if text.startswith("{%"):
            errors.append(f"Tags such as {text[:20]} are not allowed ({where}); use {{{{ name }}}} placeholders only.")
        elif match.group(1) is None:
            errors.append(f"Unclosed {{{{ {where}: close it with }}}}.")
        else:
            inner = _PLACEHOLDER.match(match.group(1))
            if inner is None:
                errors.append(f"{text} {where} is not a placeholder; write {{{{ name }}}} or {{{{ name|fallback }}}}.")
            else:
                fallback = (inner.group(2) or "").strip()
                found.append(Placeholder(inner.group(1), fallback, match.start(), match.end()))
    return found, errors


def placeholders(body: str) -> list[Placeholder]:
    found, errors = _scan(body)
    if errors:
        raise TemplateError(errors)
    return found


def validate_body(body: str, *, custom_fields: Iterable[str] = ()) -> list[str]:
    """Every problem with a body, [] when it is fine."""
    found, errors = _scan(body)
    known = (*BUILTIN_FIELDS, *sorted(set(custom_fields) - set(BUILTIN_FIELDS)))
    for item in found:
        if item.name not in known:
            errors.append(
                f"Unknown placeholder {{{{ {item.name} }}}} at character {item.start + 1}; known: {', '.join(known)}."
            )
    return errors


def compile_body(body: str, *, custom_fields: Iterable[str] = ()) -> CompiledBody:
    custom = tuple(custom_fields)
    return _compile(body, custom)


@lru_cache(maxsize=1024)
def _compile(body: str, custom_fields: tuple[str, ...]) -> CompiledBody:
    errors = validate_body(body, custom_fields=custom_fields)
    if errors:
        raise TemplateError(errors)
    parts: list = []
    position = 0
    for item in placeholders(body):
        if item.start > position:
            parts.append(body[position : item.start])
        parts.append((item.name, item.fallback))
        position = item.end
    if position < len(body):
        parts.append(body[position:])
    return CompiledBody(tuple(parts))


def render(compiled: CompiledBody, values: Mapping[str, str]) -> str:
    out = []
    for part in compiled.parts:
        if part.__class__ is str:
            out.append(part)
        else:
            value = values.get(part[0])
            value = value.strip() if isinstance(value, str) else ("" if value is None else str(value))
            out.append(value or part[1])
    return "".join(out)


@lru_cache(maxsize=256)
def _normalised(text: str) -> str:
    return _SPACES.sub(" ", text).strip().rstrip(".!").casefold()


def finalise(text: str, *, business_name: str, opt_out_line: str) -> str:
    """Identify the sender and end with the opt-out line, each added only when missing."""
    flat = _SPACES.sub(" ", text).casefold()
    name = _normalised(business_name)
    if name and name not in flat:
        text = f"{business_name}: {text}"
    line = _normalised(opt_out_line)
    if line and line not in flat and not _UNSUBSCRIBE.search(text):
        text = f"{text.rstrip()}\n{opt_out_line}"
    return text


def render_message(compiled: CompiledBody, values: Mapping[str, str], *, business_name: str, opt_out_line: str) -> str:
    return finalise(render(compiled, values), business_name=business_name, opt_out_line=opt_out_line)
