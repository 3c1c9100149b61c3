"""The work each child process does. One phase per process, so its peak RSS is its own.

Every phase returns a JSON-able dict; ``seconds`` is the measured work only (Django start-up is not in it), and
``peak_rss_mb`` is the process's peak resident set size (``ru_maxrss``, cross-checked against /proc's VmHWM).
"""

from __future__ import annotations

import csv
import gc
import os
import re
import resource
import time


def peak_rss() -> dict:
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_kb = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm_kb = int(line.split()[1])
    except OSError:
        pass
    return {"peak_rss_mb": maxrss_kb / 1024, "vmhwm_mb": None if hwm_kb is None else hwm_kb / 1024}


class GcTimer:
    """Counts the cyclic garbage collector's runs and time per generation (a gc callback: no change to the code)."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            self.runs[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._started

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._callback)

    def report(self) -> dict:
        return {"gc_runs": self.runs, "gc_seconds": self.seconds}


_VERB = re.compile(r"\s*(\w+)")
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|TABLE(?: IF NOT EXISTS)?)\s+"?(\w+)"?', re.IGNORECASE)


class SqlTimer:
    """Time spent in each kind of SQL statement, via Django's execute_wrapper hook (the code is unchanged).

    The time is the whole ``cursor.execute``: psycopg's query conversion, the round trip and the server's work.
    COPY (``cursor.copy``) and transaction commits do not pass through execute wrappers.
    """

    def __init__(self) -> None:
        self.stats: dict[str, list] = {}

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            verb = _VERB.match(sql)
            table = _TABLE.search(sql, 0, 2000)
            label = f"{verb.group(1).upper() if verb else '?'} {table.group(1) if table else ''}".strip()
            if "FOR UPDATE" in sql[-200:]:
                label += " … FOR UPDATE"
            entry = self.stats.setdefault(label, [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed

    def report(self) -> dict:
        return {"sql": {k: v for k, v in sorted(self.stats.items(), key=lambda kv: -kv[1][1])}}


def _django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")
    django.setup()


# --- not measured ---------------------------------------------------------------------------------------------------


def generate(state: dict) -> dict:
    from .generate import generate as write_csv

    started = time.perf_counter()
    made = write_csv(state["csv"], state["rows"])
    return {
        "seconds": time.perf_counter() - started,
        "size_bytes": made.size_bytes,
        "expected": dict(made.expected),
        "dnc": made.dnc,
        "formats": {str(k): v for k, v in sorted(made.formats.items())},
    }


# --- the real import path -------------------------------------------------------------------------------------------


def upload(state: dict) -> dict:
    """contact_import_upload (copy, sha256, encoding over the whole file, sniffing) + contact_import_configure."""
    _django()
    from django.utils import timezone

    from contacts import services
    from contacts.models import ConsentKind, ConsentMode
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=state["tenant_id"])
    started = time.perf_counter()
    imp = services.contact_import_upload(
        tenant=tenant, actor=None, source=state["csv"], original_name="bench-contacts.csv"
    )
    uploaded = time.perf_counter()
    mapping = dict(imp.mapping)
    services.contact_import_configure(
        contact_import=imp,
        actor=None,
        mapping=mapping,
        custom_columns=["Loyalty Tier"],
        add_tags=["bench-import"],
        consent_mode=ConsentMode.DECLARATION,
        consent_kind=ConsentKind.EXPRESS,
        consent_source="Sign-up form at the counter (bench)",
        consent_captured_at=timezone.now() - timezone.timedelta(days=30),
        consent_evidence="Paper forms kept at head office",
    )
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "upload_seconds": uploaded - started,
        "configure_seconds": done - uploaded,
        "import_id": imp.pk,
        "encoding": imp.encoding,
        "delimiter": imp.delimiter,
        "mapping": mapping,
        **peak_rss(),
    }


def preview(state: dict) -> dict:
    _django()
    from django.db import connection

    from contacts import services
    from contacts.models import ContactImport

    sql_timer = SqlTimer()
    with GcTimer() as gc_timer, connection.execute_wrapper(sql_timer):
        started = time.perf_counter()
        counts = services.contact_import_run_preview(import_id=state["import_id"])
        seconds = time.perf_counter() - started
    imp = ContactImport.objects.get(pk=state["import_id"])
    return {
        "seconds": seconds,
        "counts": counts,
        "status": imp.status,
        "error": imp.error,
        **gc_timer.report(),
        **sql_timer.report(),
        **peak_rss(),
    }


def commit(state: dict) -> dict:
    _django()
    from contacts import services
    from contacts.models import ContactImport

    imp = ContactImport.objects.get(pk=state["import_id"])
    from django.db import connection

    sql_timer = SqlTimer()
    with GcTimer() as gc_timer, connection.execute_wrapper(sql_timer):
        started = time.perf_counter()
        services.contact_import_commit(contact_import=imp, actor=None)
        counts = services.contact_import_run_commit(import_id=imp.pk)
        seconds = time.perf_counter() - started
    imp.refresh_from_db()
    return {
        "seconds": seconds,
        "counts": counts,
        "status": imp.status,
        "error": imp.error,
        **gc_timer.report(),
        **sql_timer.report(),
        **peak_rss(),
    }


# --- the floor ------------------------------------------------------------------------------------------------------


def floor_parse(state: dict) -> dict:
    """Every number of the file through libphonenumber's full path: parse, is_valid_number, format E.164."""
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat

    from .generate import PHONE_COLUMN

    with open(state["csv"], newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        raws = [row[PHONE_COLUMN] for row in reader]

    parse, is_valid, format_number, e164 = (
        phonenumbers.parse,
        phonenumbers.is_valid_number,
        phonenumbers.format_number,
        PhoneNumberFormat.E164,
    )
    valid = 0
    started = time.perf_counter()
    for raw in raws:
        text = raw.strip()
        if text.startswith("0011"):
            text = "+" + text[4:]
        elif text.startswith("00"):
            text = "+" + text[2:]
        try:
            number = parse(text, "AU")
        except NumberParseException:
            continue
        if is_valid(number):
            format_number(number, e164)
            valid += 1
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "numbers": len(raws), "valid": valid, **peak_rss()}


def floor_copy(state: dict) -> dict:
    """A bare COPY of every row (all columns as text) into a fresh unindexed table, reading the CSV with csv.reader."""
    import psycopg
    from psycopg import sql

    from .generate import HEADERS

    table = sql.Identifier(f"bench_floor_{os.getpid()}")
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(f"c{i}")) for i in range(len(HEADERS)))
    with psycopg.connect(state["database_url"]) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
        conn.commit()
        try:
            rows = 0
            started = time.perf_counter()
            with open(state["csv"], newline="", encoding="utf-8") as f, conn.cursor() as cur:
                reader = csv.reader(f)
                next(reader)
                with cur.copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
                    for row in reader:
                        copy.write_row(row)
                        rows += 1
            conn.commit()
            seconds = time.perf_counter() - started
            copied = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
        finally:
            conn.rollback()
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            conn.commit()
    return {"seconds": seconds, "rows": rows, "copied": copied, **peak_rss()}


PHASES = {
    "generate": generate,
    "upload": upload,
    "preview": preview,
    "commit": commit,
    "floor_parse": floor_parse,
    "floor_copy": floor_copy,
}
