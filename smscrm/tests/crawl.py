"""The machinery of the security crawl (smscrm/tests/test_security_crawl.py).

- ``routes()``: every URL pattern of the project, from ``get_resolver()`` down, the admin's included,
  each with the kwargs it takes and a way to build its URL (named or not);
- ``Browser``: a logged-in test client that enforces CSRF like a browser (token from a page's
  cookie, sent back as ``csrfmiddlewaretoken`` and ``X-CSRFToken``) and never raises a view's
  exception (a 500 is an answer to record);
- ``rolled_back()``: each request runs in a savepoint rolled back afterwards, so requests are
  independent of each other and of their order;
- ``Snapshotter``: every row of every tenant-owned model of one tenant, to prove nothing changed;
- ``formula_cells()``: CSV cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

import copy
import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, models, transaction
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
    def shown(self) -> str:
        """The body and the headers that show things (Location, Content-Disposition), lower-cased.
        Not entity-decoded: Django escapes only < > & ' ", which no marker contains."""
        return f"{self.text}\n{self.location}\n{self.disposition}".lower()

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
        # A streamed body read to the end closes the response, as a WSGI server would.
        body = b"".join(response.streaming_content) if response.streaming else response.content
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


def request_kept(browser: Browser, method: str, url: str, data: dict | None = None) -> Answer:
    """A request in a savepoint of its own: its writes stay (for the enclosing rolled_back() to
    look at), unless it answered 5xx, which may have left the transaction aborted."""
    with transaction.atomic():
        answer = browser.request(method, url, data)
        if answer.status >= 500:
            transaction.set_rollback(True)
    return answer


# --- tenant-owned rows ----------------------------------------------------------------------------------------------

OUR_APPS = ("smscrm", "tenants", "webhooks", "contacts", "messaging", "links", "campaigns", "reporting")
# Models of our apps that hold no tenant's data, and why.
NOT_TENANT_OWNED = {
    "ops.Heartbeat": "a process's last sign of life, one row per component (app smscrm, label ops)",
    "messaging.RateLimitState": "pacing state keyed by a rate-limit key, no tenant column",
    "messaging.StatusSweep": "how far the final-status look-up has read, one row per pass, installation-wide",
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


Snapshot = dict[str, list[tuple]]


class Snapshotter:
    """Every row of one tenant (and its members' user rows): ``changes()`` says what differs from
    the rows as they were when the Snapshotter was made.

    After every request the crawl asks one query: every row of every tenant-owned table as one
    text (a UNION ALL), compared with the first; only when it differs are the tables read one by
    one to say which rows and columns changed. The SQL is compiled once.
    """

    def __init__(self, tenant: Tenant) -> None:
        self.tables: list[tuple[str, list[str], str, tuple]] = []
        selects, fingerprint_params = [], []
        quote = connection.ops.quote_name
        for label, queryset, fields in self._sources(tenant):
            columns = [f.attname for f in fields]
            sql, params = queryset.order_by("pk").values_list(*columns).query.sql_with_params()
            self.tables.append((label, columns, sql, params))
            # One flat || chain (nested CONCATs overflow SQLite's parser on wide tables).
            row = " || '|' || ".join(f"COALESCE(CAST(t.{quote(f.column)} AS TEXT), '~')" for f in fields)
            selects.append(f"SELECT %s, {row} FROM ({sql}) t")  # noqa: S608 - the models' columns; values are params
            fingerprint_params += [label, *params]
        self.fingerprint_sql = (" UNION ALL ".join(selects), fingerprint_params)
        self.baseline = self.take()
        self.baseline_fingerprint = self.fingerprint()

    @staticmethod
    def _sources(tenant: Tenant):
        """(label, queryset, fields): the primary key first."""
        for model in tenant_models():
            fields = [model._meta.pk] + [f for f in model._meta.concrete_fields if not f.primary_key]
            yield model._meta.label, tenant_rows(model, tenant), fields
        user_model = get_user_model()
        # Not last_login: the crawl signs in.
        fields = [user_model._meta.pk] + [
            f for f in user_model._meta.concrete_fields if not f.primary_key and f.name != "last_login"
        ]
        yield "auth.User", user_model._base_manager.filter(memberships__tenant=tenant).distinct(), fields

    def fingerprint(self) -> list:
        with connection.cursor() as cursor:
            cursor.execute(*self.fingerprint_sql)
            return sorted(cursor.fetchall())

    def take(self) -> Snapshot:
        with connection.cursor() as cursor:
            taken = {}
            for label, _, sql, params in self.tables:
                cursor.execute(sql, params)
                taken[label] = cursor.fetchall()
        return taken

    def changes(self) -> list[str]:
        """What differs from the first snapshot, one line per model (call it inside the savepoint)."""
        try:
            with transaction.atomic():
                if self.fingerprint() == self.baseline_fingerprint:
                    return []
                return self.diff(self.baseline, self.take())
        except DatabaseError as exc:
            return [f"the database refused a query after the request: {exc}"]

    def diff(self, before: Snapshot, after: Snapshot) -> list[str]:
        """Rows added, removed, and the columns changed, per model."""
        changes = []
        for label, columns, _, _ in self.tables:
            old = {row[0]: row for row in before[label]}  # the first column is the primary key
            new = {row[0]: row for row in after[label]}
            added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
            changed = {
                pk: [c for c, a, b in zip(columns, old[pk], new[pk], strict=True) if a != b]
                for pk in sorted(set(old) & set(new))
                if old[pk] != new[pk]
            }
            if added or removed or changed:
                changes.append(f"{label}: added {added}, removed {removed}, changed {changed}")
        return changes


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
    """Problems collected over a crawl, reported together at the end with the statuses it saw."""

    title: str
    lines: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def saw(self, answer: Answer) -> None:
        self.statuses[f"{answer.method} {answer.status}"] += 1

    def add(self, line: str) -> None:
        self.lines.append(line)

    def check(self) -> None:
        seen = ", ".join(f"{key}: {n}" for key, n in sorted(self.statuses.items()))
        assert not self.lines, f"{self.title}: {len(self.lines)} problem(s) (answers: {seen})\n" + "\n".join(self.lines)
