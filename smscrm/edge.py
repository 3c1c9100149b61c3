"""Hostile input refused at the edge: a NUL character never reaches a view.

PostgreSQL cannot store or compare a text containing NUL, so a ``?q=%00abc`` that reached a
query was a 500. ``RefuseNulMiddleware`` answers 400 to any request whose path, query string or
form fields contain one, before the view runs. The provider's webhooks are the exception: they
are signed, and refusing them would lose the text (a ``STOP\\x00`` is still an opt-out), so their
views are marked ``strips_nul`` and take ``nul_free(params)`` after the signature check. Form
fields are covered twice: Django's form CharFields refuse NUL too. CSV cells are cleaned where
files are read (contacts/csvfiles/streaming.py).

``db_id`` is the one reading of a database id from a query string or form value: ASCII digits
only (``"²"`` is a digit to ``str.isdigit`` but not to ``int``) and at most 18 of them (a
bigint), else None, which the caller treats as "no such row".
"""

from __future__ import annotations

import re

from django.http import HttpResponseBadRequest, JsonResponse

NUL = "\x00"
NUL_REFUSED = "The request contains a NUL character, which no field accepts."
_DB_ID = re.compile(r"[0-9]{1,18}")


def db_id(value: str | None) -> int | None:
    """A database id from a query string or form value (1 to 18 ASCII digits), else None."""
    return int(value) if value and _DB_ID.fullmatch(value) else None


def strips_nul(view):
    """Mark a view that removes NUL from its input itself (signed webhooks)."""
    view.strips_nul = True
    return view


def nul_free(params: dict[str, str]) -> dict[str, str]:
    """The parameters with every NUL character removed (keys and values)."""
    return {key.replace(NUL, ""): value.replace(NUL, "") for key, value in params.items()}


def _has_nul(querydict) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in querydict.lists())


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "strips_nul", False):
            return None
        api = request.path_info.startswith("/api/")
        found = NUL in request.path or _has_nul(request.GET)
        if not found and request.method == "POST" and not api:
            # The API's own parsers refuse a NUL in a body (tenants/api/parsers.py) and answer a
            # body Django refuses to parse (too many fields, too large) in the API's error shape.
            found = _has_nul(request.POST)
        if found and api:
            # The API answers in its one error body (tenants/api/errors.py).
            return JsonResponse({"code": "parse_error", "message": NUL_REFUSED, "fields": {}}, status=400)
        if found:
            return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain")
        return None
