"""The machinery of the security crawl (smscrm/tests/test_security_crawl.py).

- ``routes()``: every URL pattern of the project, from ``get_resolver()`` down, the admin's included,
  each with the kwargs it takes and a way to build its URL (named or not);
- ``Browser``: a logged-in test client that enforces CSRF like a browser (token from a page's
  cookie, sent back as ``csrfmiddlewaretoken`` and ``X-CSRFToken``) and never raises a view's
  exception (a 500 is an answer to record);
- ``rolled_back()``: each request runs in a savepoint rolled back afterwards, so requests are
  independent of each other and of their order;
- ``snapshot()``: every row of every tenant-owned model of one tenant, to prove nothing changed;
- ``formula_cells()``: CSV cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import DatabaseError, models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils.regex_helper import normalize

from tenants.models import Tenant

# --- URL patterns ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: ``key`` is its namespaced name, or its route when it has none."""

    route: str
    name: str | None
    callback: object
    params: tuple[str, ...]
    fmt: str
    admin_model: type[models.Model] | None = None
    admin_kind: str | None = None  # changelist, add, change, delete, history, object, or the URL name

    @property
    def key(self) -> str:
        return self.name or self.route

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None)

    def url(self, kwargs: dict, query: dict | None = None) -> str:
        path = "/" + self.fmt % {k: str(v) for k, v in kwargs.items()}
        match = resolve(path)
        assert match.func == self.callback, f"{path} built for {self.key} resolves to {match.view_name}"
        if query:
            from urllib.parse import urlencode

            path += "?" + urlencode(query, doseq=True)
        return path


def _admin_prefixes() -> dict[str, type[models.Model]]:
    return {f"admin/{m._meta.app_label}/{m._meta.model_name}/": m for m in admin.site._registry}


_ADMIN_KINDS = {
    "": "changelist",
    "add/": "add",
    "<path:object_id>/history/": "history",
    "<path:object_id>/delete/": "delete",
    "<path:object_id>/change/": "change",
    "<path:object_id>/": "object",
}


def routes() -> list[Route]:
    """Every URL pattern, depth first, in URLconf order."""
    found: list[Route] = []
    prefixes = _admin_prefixes()

    def walk(resolver, regex: str, route: str, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            piece = pattern.pattern.regex.pattern
            piece = piece[1:] if piece.startswith("^") else piece
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace]))
                walk(pattern, regex + piece, route + str(pattern.pattern), inner)
                continue
            assert isinstance(pattern, URLPattern)
            full_route = route + str(pattern.pattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            (fmt, params), *_ = normalize(regex + piece)
            model = kind = None
            for prefix, candidate in prefixes.items():
                if full_route.startswith(prefix):
                    model = candidate
                    kind = _ADMIN_KINDS.get(full_route[len(prefix) :], name)
            found.append(Route(full_route, name, pattern.callback, tuple(params), fmt, model, kind))

    walk(get_resolver(), "", "", "")
    return found


# --- requests -------------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What one request got back: status, body (streamed bodies read in full), headers that matter."""

    method: str
    url: str
    status: int
    body: bytes
    content_type: str
    location: str
    disposition: str
    error: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def readable(self) -> str:
        """The body as a person reads it (entities decoded), with the headers that show things."""
        return f"{html.unescape(self.text)}\n{self.location}\n{self.disposition}"

    def describe(self) -> str:
        extra = f" -> {self.location}" if self.location else ""
        return f"{self.method} {self.url}: {self.status}{extra}" + (f" [{self.error}]" if self.error else "")


class Browser:
    """A signed-in user's browser: CSRF enforced, the token taken from a page's cookie."""

    def __init__(self, user) -> None:
        self.client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        self.client.force_login(user)
        first = self.client.get("/")
        assert first.status_code == 200, f"{user} cannot open the dashboard: {first.status_code}"
        self.token = self.client.cookies[settings.CSRF_COOKIE_NAME].value

    def request(self, method: str, url: str, data: dict | None = None) -> Answer:
        """One request; the browser's cookies are put back afterwards (a sign-out or a sign-in that
        rotates the CSRF token must not change the next request: each runs rolled back)."""
        cookies = copy.deepcopy(self.client.cookies)
        try:
            return self._request(method, url, data)
        finally:
            self.client.cookies = cookies

    def _request(self, method: str, url: str, data: dict | None) -> Answer:
        if method == "GET":
            response = self.client.get(url)
        else:
            payload = {**(data or {}), "csrfmiddlewaretoken": self.token}
            response = self.client.post(url, payload, HTTP_X_CSRFTOKEN=self.token)
        if response.streaming:  # reading it to the end closes it, as a WSGI server would
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        error = ""
        if getattr(response, "exc_info", None):
            exc = response.exc_info[1]
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        answer = Answer(
            method=method,
            url=url,
            status=response.status_code,
            body=body,
            content_type=response.get("Content-Type", ""),
            location=response.get("Location", ""),
            disposition=response.get("Content-Disposition", ""),
            error=error,
        )
        assert b"CSRF verification failed" not in body, f"the crawler's CSRF token was refused: {answer.describe()}"
        return answer


@contextmanager
def rolled_back() -> Iterator[None]:
    """Whatever happens inside is undone: a savepoint, always rolled back."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# --- tenant-owned rows ----------------------------------------------------------------------------------------------

OUR_APPS = ("smscrm", "tenants", "contacts", "messaging", "links", "campaigns", "reporting")
# Models of our apps that hold no tenant's data, and why.
NOT_TENANT_OWNED = {
    "ops.Heartbeat": "a process's last sign of life, one row per component (app smscrm, label ops)",
    "messaging.RateLimitState": "pacing state keyed by a rate-limit key, no tenant column",
}


def tenant_lookup(model: type[models.Model]) -> str | None:
    """The ORM path from ``model`` to its tenant's id ("tenant", "template__tenant", "pk" for Tenant)."""
    if model is Tenant:
        return "pk"
    paths = [([], model)]
    for _ in range(3):
        next_paths = []
        for path, current in paths:
            for f in current._meta.concrete_fields:
                if not f.is_relation or f.related_model is None:
                    continue
                if f.related_model is Tenant:
                    return "__".join([*path, f.name])
                next_paths.append(([*path, f.name], f.related_model))
        paths = next_paths
    return None


def tenant_models() -> list[type[models.Model]]:
    """Every model of our apps that belongs to a tenant. A model with no path to a tenant that is not
    listed in NOT_TENANT_OWNED fails here: say where its rows belong."""
    owned, orphans = [], []
    for config in apps.get_app_configs():
        if config.name not in OUR_APPS:
            continue
        for model in config.get_models():
            if model._meta.label in NOT_TENANT_OWNED:
                continue
            (owned if tenant_lookup(model) else orphans).append(model)
    assert not orphans, f"models with no path to a tenant (add to NOT_TENANT_OWNED with a reason?): {orphans}"
    return owned


def tenant_rows(model: type[models.Model], tenant: Tenant):
    lookup = tenant_lookup(model)
    return None if lookup is None else model._base_manager.filter(**{lookup: tenant.pk})


Snapshot = dict[str, dict[object, dict]]


def snapshot(tenant: Tenant) -> Snapshot:
    """Every row of the tenant (and its members' user rows), by model label and pk."""
    taken: Snapshot = {}
    for model in tenant_models():
        taken[model._meta.label] = {row["pk"]: row for row in tenant_rows(model, tenant).order_by("pk").values("pk", *[
            f.attname for f in model._meta.concrete_fields])}  # fmt: skip
    user_model = get_user_model()
    users = user_model._base_manager.filter(memberships__tenant=tenant).distinct().order_by("pk")
    fields = [f.attname for f in user_model._meta.concrete_fields if f.name != "last_login"]  # the crawl signs in
    taken["auth.User"] = {row["pk"]: row for row in users.values("pk", *fields)}
    return taken


def snapshot_diff(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed between two snapshots, one line per model."""
    changes = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
        changed = {
            pk: sorted(k for k in old[pk] if old[pk][k] != new[pk][k])
            for pk in set(old) & set(new)
            if old[pk] != new[pk]
        }
        if added or removed or changed:
            changes.append(f"{label}: added {added}, removed {removed}, changed {changed}")
    return changes


def safe_snapshot(tenant: Tenant) -> Snapshot | str:
    """A snapshot, or why none could be taken (a request left the transaction aborted)."""
    try:
        with transaction.atomic():
            return snapshot(tenant)
    except DatabaseError as exc:
        return f"the database refused a query after the request: {exc}"


# --- what a page must never contain ---------------------------------------------------------------------------------

UNESCAPED_HTML = (
    re.compile(r"<script>alert\(1\)</script>", re.I),
    re.compile(r"<img src=x onerror", re.I),
    re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I),
    # {% debug %} rendered as a template dumps the context, whose builtins are always there.
    re.compile(r"""(?:'|&#x27;|&#39;)False(?:'|&#x27;|&#39;): False"""),
)


def unescaped_payloads(answer: Answer) -> list[str]:
    return [pattern.pattern for pattern in UNESCAPED_HTML if pattern.search(answer.text)]


# --- CSV ------------------------------------------------------------------------------------------------------------

_TRIGGERS = ("=", "+", "-", "@")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def is_csv(answer: Answer) -> bool:
    return answer.content_type.startswith("text/csv") or answer.url.split("?")[0].endswith(".csv")


def csv_rows(answer: Answer) -> list[list[str]]:
    return list(csv.reader(io.StringIO(answer.body.decode("utf-8-sig"), newline="")))


def dangerous(cell: str) -> bool:
    """True when a spreadsheet may read ``cell`` as a formula: it starts with = + - @ TAB or CR, or
    does so after leading spaces and line breaks, or with a full-width sign (＝ ＋ － ＠, which
    spreadsheets fold to ASCII). A plain number (-5, +61412345678) runs nothing and is exempt."""
    if not cell or cell.startswith("'") or _NUMBER.match(cell.strip()):
        return False
    if cell[0] in "\t\r":
        return True
    folded = unicodedata.normalize("NFKC", cell).lstrip(" \t\r\n\u00a0\u3000")
    return folded.startswith(_TRIGGERS)


def formula_cells(answer: Answer) -> list[tuple[int, int, str]]:
    """(row, column, cell) of every cell not neutralised against formula injection."""
    return [(r, c, cell) for r, row in enumerate(csv_rows(answer)) for c, cell in enumerate(row) if dangerous(cell)]


@dataclass
class Findings:
    """Problems collected over a crawl, reported together at the end."""

    title: str
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def check(self) -> None:
        assert not self.lines, f"{self.title}: {len(self.lines)} problem(s)\n" + "\n".join(self.lines)
