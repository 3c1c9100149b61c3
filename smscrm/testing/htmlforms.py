"""What a browser would submit from a rendered form, for tests that post a page's form back.

A browser sanitises input values before it submits them: an ``<input type="date">`` whose value
is not ``YYYY-MM-DD`` (say ``05/12/2026``) is submitted empty, and so is a ``datetime-local``
whose value is not ``YYYY-MM-DDTHH:MM[:SS[.fff]]``. ``browser_submission`` applies those rules
(as Chromium does), so a test that posts a form's initial values back sees what a person sees.
"""

import re
from html.parser import HTMLParser

# The values Chromium keeps in these inputs; anything else is replaced by "".
_VALID = {
    "date": re.compile(r"\d{4}-\d{2}-\d{2}"),
    "datetime-local": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?"),
    "time": re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?"),
}
_NOT_SUBMITTED = {"submit", "button", "reset", "image", "file"}


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self._in_form = False
        self._select: dict | None = None
        self._option: dict | None = None
        self._textarea: dict | None = None

    def _add(self, name: str, value: str) -> None:
        if self._in_form and name:
            self.forms[-1].append((name, value))

    def handle_starttag(self, tag, attrs):
        a = {key: (value if value is not None else "") for key, value in attrs}
        if tag == "form":
            self._in_form = True
            self.forms.append([])
        elif tag == "input" and "disabled" not in a:
            kind = a.get("type", "text").lower()
            if kind in _NOT_SUBMITTED:
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a.get("name", ""), a.get("value", "on"))
                return
            value = a.get("value", "")
            if kind in _VALID and not _VALID[kind].fullmatch(value):
                value = ""
            self._add(a.get("name", ""), value)
        elif tag == "select" and "disabled" not in a:
            self._select = {"name": a.get("name", ""), "first": None, "selected": None}
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": "", "selected": "selected" in a}
        elif tag == "textarea" and "disabled" not in a:
            self._textarea = {"name": a.get("name", ""), "text": ""}

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        if self._textarea is not None:
            self._textarea["text"] += data

    def handle_endtag(self, tag):
        if tag == "option" and self._option is not None:
            self._close_option()
        elif tag == "select" and self._select is not None:
            self._close_option()
            chosen = self._select["selected"] if self._select["selected"] is not None else self._select["first"]
            if chosen is not None:
                self._add(self._select["name"], chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = self._textarea["text"]
            self._add(self._textarea["name"], text[1:] if text.startswith("\n") else text)
            self._textarea = None
        elif tag == "form":
            self._in_form = False

    def _close_option(self):
        if self._option is None:
            return
        value = self._option["value"] if self._option["value"] is not None else self._option["text"].strip()
        if self._select["first"] is None:
            self._select["first"] = value
        if self._option["selected"]:
            self._select["selected"] = value
        self._option = None


def browser_submission(page: str, *, field: str) -> dict[str, str | list[str]]:
    """The name → value pairs a browser submits from the form of ``page`` that has ``field``."""
    parser = _Forms()
    parser.feed(page)
    for pairs in parser.forms:
        if any(name == field for name, _ in pairs):
            data: dict[str, str | list[str]] = {}
            for name, value in pairs:
                if name in data:
                    previous = data[name]
                    data[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
                else:
                    data[name] = value
            return data
    raise AssertionError(f"No form on the page has a field named {field!r}.")
