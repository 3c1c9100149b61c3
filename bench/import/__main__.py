"""bench/import: a realistic contact CSV through the real import path on PostgreSQL, against a floor.

    python -m bench.import [--rows N] [--keep]

1. Makes sure the database of DATABASE_URL exists and is migrated, creates a fresh tenant (unique slug per run)
   and generates the CSV (deterministic: mixed number formats, 2% invalid, 1% duplicates, accented names); 0.5% of
   the file's numbers go on the tenant's do-not-contact list first (bulk insert: setup, not measured).
2. Runs the real path, each phase in its own child process so that its peak RSS is its own: upload
   (``contact_import_upload`` + ``contact_import_configure``), dry run (``contact_import_run_preview``), commit
   (``contact_import_commit`` + ``contact_import_run_commit``), as ``manage.py import_contacts`` drives them.
3. Measures the floor in the same run: every number of the file through libphonenumber's full path, and a bare
   COPY of every row into an unindexed table.
4. Prints seconds, rows/s and peak RSS per phase, the ratio to the floor, PASS/FAIL per target, and verifies the
   result (commit counts = preview counts = the file's expected outcomes; contacts = creates; consent records =
   creates + updates; no duplicate phone; no DNC number imported).

Exit status 1 only when the import fails or a verification fails; a missed performance target prints FAIL.
Everything the run created (tenant, rows, stored files, queued tasks, the CSV) is removed unless --keep.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smscrm_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"

TARGET_SECONDS = 60.0
TARGET_RSS_MB = 400.0
TARGET_RATIO = 3.0

OUTCOME_ORDER = (
    "create",
    "update",
    "unchanged",
    "duplicate",
    "invalid_phone",
    "not_mobile",
    "missing_consent",
    "dnc",
)


def _environment() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    # Measure what production runs: DEBUG off (DEBUG=True keeps every query's SQL in connection.queries).
    os.environ.setdefault("DEBUG", "false")
    path = os.environ.get("PYTHONPATH", "")
    if str(ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)


class PhaseFailed(Exception):
    pass


# --- child side -----------------------------------------------------------------------------------------------------


def child_main(phase: str, state_path: str, out_path: str) -> int:
    from .phases import PHASES

    state = json.loads(Path(state_path).read_text())
    result = PHASES[phase](state)
    Path(out_path).write_text(json.dumps(result))
    return 0


PROFILED_PHASES = ("upload", "preview", "commit")


def run_child(phase: str, state: dict, workdir: Path, *, profile_dir: Path | None = None) -> dict:
    state_path = workdir / f"{phase}.state.json"
    out_path = workdir / f"{phase}.result.json"
    state_path.write_text(json.dumps(state))
    out_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.import", "--child", phase, "--state", str(state_path)]
    command += ["--out", str(out_path)]
    if profile_dir is not None and phase in PROFILED_PHASES:
        # Sampled with py-spy (idle frames too, so time spent waiting on PostgreSQL shows), as collapsed stacks.
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out = profile_dir / f"{phase}.txt"
        command = [py_spy, "record", "--idle", "--rate", "100", "--format", "raw", "-o", str(out), "--", *command]
    started = time.perf_counter()
    code = subprocess.call(command, cwd=ROOT, env=os.environ.copy())
    if code != 0 or not out_path.exists():
        raise PhaseFailed(f"phase {phase} exited with status {code}")
    result = json.loads(out_path.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    return result


# --- setup and teardown ---------------------------------------------------------------------------------------------


def ensure_database(url: str) -> str:
    """Create the database DATABASE_URL names if it is missing (connecting to the ``postgres`` database)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench/import measures on PostgreSQL; DATABASE_URL is {parts.scheme}://…")
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}", flush=True)
        return conn.execute("SHOW server_version").fetchone()[0]


def setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def create_tenant():
    from tenants.services import tenant_create

    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = f"bench-import-{stamp}-{os.getpid()}"
    return tenant_create(
        name=f"Bench import {stamp}",
        slug=slug,
        business_name="Bench Import Pty Ltd",
        owner_email=f"{slug}@example.invalid",
    )


def load_dnc(tenant, phones: list[str]) -> None:
    from contacts.models import DncReason, DoNotContact

    DoNotContact.objects.bulk_create(
        [DoNotContact(tenant=tenant, phone_e164=p, reason=DncReason.STOP_KEYWORD, source="bench") for p in phones],
        batch_size=5_000,
    )


def checkpoint() -> None:
    """Flush dirty buffers before a write phase so it does not pay for the previous phase's writes (not timed)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except Exception as exc:  # noqa: BLE001 - needs superuser or pg_checkpoint; only makes runs steadier
        print(f"(CHECKPOINT skipped: {exc})", flush=True)


def drop_queued_tasks(import_id: int | None) -> int:
    """Remove the preview/commit tasks configure and commit queued for this import (no worker runs on REDIS_URL)."""
    url = os.environ.get("REDIS_URL")
    if not url or import_id is None:
        return 0
    try:
        import redis

        client = redis.Redis.from_url(url)
        removed = 0
        for raw in client.lrange("imports", 0, -1):
            try:
                headers = json.loads(raw).get("headers", {})
            except ValueError:
                continue
            if (
                headers.get("task") in ("contacts.import_preview", "contacts.import_commit")
                and headers.get("argsrepr") == f"({import_id},)"
            ):
                removed += client.lrem("imports", 1, raw)
        return removed
    except Exception as exc:  # noqa: BLE001 - tidying only
        print(f"(could not remove queued tasks: {exc})", flush=True)
        return 0


def cleanup(tenant_id: int, owner_id: int | None) -> None:
    """Delete every row the run made, by tenant, with plain SQL (an ORM delete of 1M contacts is slow)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from contacts.imports import media_path
    from contacts.models import ConsentRecord, Contact, ContactImport, DoNotContact
    from tenants.models import AuditEvent, Membership, Tenant

    stored = [
        media_path(relative)
        for pair in ContactImport.objects.filter(tenant_id=tenant_id).values_list("file_path", "rejected_path")
        for relative in pair
        if relative
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        # The audit log is append-only and PROTECTs its tenant: the bench tenant's own events go with it.
        for model in (ConsentRecord, Contact, DoNotContact, ContactImport, AuditEvent, Membership):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s", [tenant_id])
        Tenant.objects.filter(pk=tenant_id).delete()
        if owner_id is not None:
            cursor.execute(f"DELETE FROM {get_user_model()._meta.db_table} WHERE id = %s", [owner_id])
    # Only this run's files: MEDIA_ROOT is the run's own directory, but be exact anyway.
    for path in stored:
        path.unlink(missing_ok=True)
    for path in {p.parent for p in stored}:
        with contextlib.suppress(OSError):  # not empty: not only ours
            path.rmdir()


# --- verification ---------------------------------------------------------------------------------------------------


def verify(tenant_id: int, import_id: int, expected: dict, rows: int) -> tuple[list[tuple[bool, str]], dict, dict]:
    from django.db import connection

    from contacts.models import ConsentRecord, Contact, ContactImport, DoNotContact

    imp = ContactImport.objects.get(pk=import_id)
    empty = dict.fromkeys(OUTCOME_ORDER, 0)
    preview = {**empty, **(imp.preview_counts or {})}
    commit = {**empty, **(imp.commit_counts or {})}
    wanted = {**empty, **expected}
    contacts = Contact.objects.filter(tenant_id=tenant_id).count()
    records = ConsentRecord.objects.filter(tenant_id=tenant_id).count()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT phone_e164, count(*) FROM {Contact._meta.db_table} WHERE tenant_id = %s"
            " GROUP BY phone_e164 HAVING count(*) > 1 LIMIT 5",
            [tenant_id],
        )
        duplicated = cursor.fetchall()
        cursor.execute(
            f"SELECT count(*) FROM {Contact._meta.db_table} c JOIN {DoNotContact._meta.db_table} d"
            " ON d.tenant_id = c.tenant_id AND d.phone_e164 = c.phone_e164 WHERE c.tenant_id = %s",
            [tenant_id],
        )
        dnc_imported = cursor.fetchone()[0]
    created_updated = commit["create"] + commit["update"]
    checks = [
        (imp.status == ContactImport.Status.COMMITTED, f"import #{imp.pk} status is {imp.status}"),
        (sum(preview.values()) == rows, f"dry run counted {sum(preview.values()):,} rows of {rows:,}"),
        (commit == preview, "commit counts = dry-run counts" + ("" if commit == preview else f" ({commit})")),
        (preview == wanted, "dry-run counts = the generated file's expected outcomes"),
        (not imp.data_changed, f"data_changed is {imp.data_changed}"),
        (contacts == commit["create"], f"contacts for the tenant = creates ({contacts:,} = {commit['create']:,})"),
        (records == created_updated, f"consent records = creates + updates ({records:,} = {created_updated:,})"),
        (not duplicated, "no phone twice for the tenant" + (f" (e.g. {duplicated})" if duplicated else "")),
        (dnc_imported == 0, f"no do-not-contact number imported ({dnc_imported} found)"),
    ]
    return checks, preview, commit


# --- report ---------------------------------------------------------------------------------------------------------


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(ctx: dict) -> None:
    rows = ctx["rows"]
    up, pre, com, fp, fc = (ctx[k] for k in ("upload", "preview", "commit", "floor_parse", "floor_copy"))
    both = pre["seconds"] + com["seconds"]
    floor = fp["seconds"] + fc["seconds"]
    ratio = both / floor if floor else float("inf")
    import_rss = max(up["peak_rss_mb"], pre["peak_rss_mb"], com["peak_rss_mb"])

    def line(label, seconds, rss=None):
        rate = f"{rows / seconds:>12,.0f}" if seconds else f"{'-':>12}"
        mem = f"{rss:>12.1f}" if rss is not None else ""
        print(f"{label:<26}{seconds:>10.2f}{rate}{mem}")

    print()
    print(
        f"bench/import: {rows:,} rows, {ctx['size_bytes'] / 1e6:.1f} MB CSV ({ctx['encoding']}), "
        f"PostgreSQL {ctx['pg_version']}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(f"{'phase':<26}{'seconds':>10}{'rows/s':>12}{'peak RSS MB':>12}")
    line("upload + configure", up["seconds"], up["peak_rss_mb"])
    line("dry run", pre["seconds"], pre["peak_rss_mb"])
    line("commit", com["seconds"], com["peak_rss_mb"])
    line("dry run + commit", both, max(pre["peak_rss_mb"], com["peak_rss_mb"]))
    line("floor: phonenumbers parse", fp["seconds"], fp["peak_rss_mb"])
    line("floor: bare COPY", fc["seconds"], fc["peak_rss_mb"])
    line("floor total", floor)
    print(f"ratio (dry run + commit) / floor: {ratio:.2f}x")
    print(
        f"  (upload {up['upload_seconds']:.2f} s + configure {up['configure_seconds']:.2f} s; "
        f"child wall time incl. Django start-up: upload {up['wall_seconds']:.1f} s, dry run "
        f"{pre['wall_seconds']:.1f} s, commit {com['wall_seconds']:.1f} s)"
    )
    for label, result in (("dry run", pre), ("commit", com)):
        runs, secs = result["gc_runs"], result["gc_seconds"]
        print(
            f"  ({label}: cyclic GC ran {sum(runs):,} times for {sum(secs):.1f} s, of which {runs[2]:,} full "
            f"collections {secs[2]:.1f} s)"
        )
    for label, result in (("dry run", pre), ("commit", com)):
        print(f"  {label}: time inside cursor.execute by statement (calls, seconds)")
        for statement, (calls, seconds) in list(result["sql"].items())[:6]:
            print(f"    {statement[:52]:<52}{calls:>7,}{seconds:>9.2f} s")
    print()
    print(f"{'target':<40}{'measured':>12}  status")
    print(f"{'dry run + commit <= 60 s':<40}{both:>10.1f} s  {_status(both <= TARGET_SECONDS)}")
    rss_ok = import_rss < TARGET_RSS_MB
    print(f"{'peak RSS < 400 MB (max of import phases)':<40}{import_rss:>9.0f} MB  {_status(rss_ok)}")
    print(f"{'dry run + commit <= 3x floor':<40}{ratio:>11.2f}x  {_status(ratio <= TARGET_RATIO)}")
    print()
    print(f"{'outcome':<18}{'expected':>12}{'dry run':>12}{'commit':>12}")
    for outcome in OUTCOME_ORDER:
        print(
            f"{outcome:<18}{ctx['expected'].get(outcome, 0):>12,}{ctx['preview_counts'][outcome]:>12,}"
            f"{ctx['commit_counts'][outcome]:>12,}"
        )
    print()
    print("verification")
    for ok, text in ctx["checks"]:
        print(f"  {'OK  ' if ok else 'FAIL'}  {text}")
    print(
        f"  floor sanity: {fp['valid']:,} of {fp['numbers']:,} numbers valid for libphonenumber; "
        f"{fc['copied']:,} rows copied"
    )


# --- main -----------------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows in the generated CSV")
    parser.add_argument("--keep", action="store_true", help="keep the tenant, its rows and the CSV")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="sample the upload, dry-run and commit children with py-spy into DIR/<phase>.txt (collapsed stacks; "
        "times are then a little higher)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _environment()
    if args.child:
        return child_main(args.child, args.state, args.out)
    if args.rows < 1_000:
        parser.error("--rows must be at least 1000")

    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    # The stored upload and the rejected-rows file go under the run's own MEDIA_ROOT: var/media is shared with
    # other databases (development, tests), whose tenant and import ids overlap the bench database's.
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    pg_version = ensure_database(os.environ["DATABASE_URL"])
    setup_django()
    tenant = create_tenant()
    owner = tenant.memberships.values_list("user_id", flat=True).first()
    state = {
        "rows": args.rows,
        "csv": str(workdir / "contacts.csv"),
        "tenant_id": tenant.pk,
        "database_url": os.environ["DATABASE_URL"],
    }
    print(f"tenant {tenant.slug} (#{tenant.pk}); working in {workdir}", flush=True)
    import_id = None
    failed = False
    try:
        started = time.perf_counter()
        made = run_child("generate", state, workdir)
        took = time.perf_counter() - started
        print(f"generated {args.rows:,} rows ({made['size_bytes'] / 1e6:.1f} MB) in {took:.1f} s", flush=True)
        load_dnc(tenant, made["dnc"])
        print(f"put {len(made['dnc']):,} of the file's numbers on the do-not-contact list", flush=True)

        print("upload + configure …", flush=True)
        up = run_child("upload", state, workdir, profile_dir=args.profile)
        import_id = state["import_id"] = up["import_id"]
        print(f"  {up['seconds']:.2f} s; mapping {up['mapping']}", flush=True)

        print("dry run …", flush=True)
        pre = run_child("preview", state, workdir, profile_dir=args.profile)
        print(f"  {pre['seconds']:.2f} s, status {pre['status']}", flush=True)
        if pre["status"] != "previewed":
            raise PhaseFailed(f"dry run ended {pre['status']}: {pre['error']}")

        checkpoint()
        print("commit …", flush=True)
        com = run_child("commit", state, workdir, profile_dir=args.profile)
        print(f"  {com['seconds']:.2f} s, status {com['status']}", flush=True)
        if com["status"] != "committed":
            raise PhaseFailed(f"commit ended {com['status']}: {com['error']}")

        print("floor: phonenumbers parse …", flush=True)
        fp = run_child("floor_parse", state, workdir)
        print(f"  {fp['seconds']:.2f} s", flush=True)
        checkpoint()
        print("floor: bare COPY …", flush=True)
        fc = run_child("floor_copy", state, workdir)
        print(f"  {fc['seconds']:.2f} s", flush=True)

        checks, preview_counts, commit_counts = verify(tenant.pk, import_id, made["expected"], args.rows)
        for phase, result in (("upload", up), ("dry run", pre), ("commit", com)):
            hwm = result.get("vmhwm_mb")
            if hwm is not None and abs(hwm - result["peak_rss_mb"]) > 0.05 * result["peak_rss_mb"]:
                print(f"note: {phase} ru_maxrss {result['peak_rss_mb']:.1f} MB vs VmHWM {hwm:.1f} MB")
        report(
            {
                "rows": args.rows,
                "size_bytes": made["size_bytes"],
                "encoding": up["encoding"],
                "pg_version": pg_version,
                "upload": up,
                "preview": pre,
                "commit": com,
                "floor_parse": fp,
                "floor_copy": fc,
                "expected": made["expected"],
                "preview_counts": preview_counts,
                "commit_counts": commit_counts,
                "checks": checks,
            }
        )
        failed = not all(ok for ok, _ in checks)
    except PhaseFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        failed = True
    finally:
        if args.keep:
            print(f"kept tenant {tenant.slug} (#{tenant.pk}), import #{import_id}, CSV and MEDIA_ROOT in {workdir}")
        else:
            started = time.perf_counter()
            drop_queued_tasks(import_id)
            cleanup(tenant.pk, owner)
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"cleaned up tenant #{tenant.pk} and the CSV in {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
