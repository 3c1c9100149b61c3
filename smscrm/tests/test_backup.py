"""scripts/backup.sh and scripts/restore.sh (issue 20): a backup is whole or absent, old ones go
by the daily/weekly rule, a restore refuses what it should, and a real database comes back the
same, row for row.

PostgreSQL only: the scripts drive pg_dump and pg_restore against scratch databases made with
createdb on the server the tests use (dropped at the end of each test).
"""

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "scripts" / "backup.sh"
RESTORE = ROOT / "scripts" / "restore.sh"
PYTHON = ROOT / ".venv" / "bin" / "python"

FAST_PG_DUMP = """#!/bin/sh
[ "$1" = --version ] && echo "pg_dump (PostgreSQL) 15.20" && exit 0
for arg; do case "$arg" in --file=*) file="${arg#--file=}";; esac; done
printf 'a dump' > "$file"
"""
# Writes a line every 50 ms and never finishes: the test kills it.
SLOW_PG_DUMP = """#!/bin/sh
[ "$1" = --version ] && echo "pg_dump (PostgreSQL) 15.20" && exit 0
for arg; do case "$arg" in --file=*) file="${arg#--file=}";; esac; done
while :; do echo "a row" >> "$file"; sleep 0.05; done
"""
OLD_PG_DUMP = """#!/bin/sh
echo "pg_dump (PostgreSQL) 9.6.24"
"""


def _server() -> dict:
    database = settings.DATABASES["default"]
    require_service(
        "PostgreSQL",
        database["ENGINE"] == "django.db.backends.postgresql" and all(map(shutil.which, ("pg_dump", "createdb"))),
        "the backup scripts need a PostgreSQL DATABASE_URL and its client tools (pg_dump, createdb)",
    )
    return database


def _url(name: str) -> str:
    database = _server()
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT'] or 5432}/{name}"


def _pg_args() -> list[str]:
    database = _server()
    return ["-h", database["HOST"], "-p", str(database["PORT"] or 5432), "-U", database["USER"]]


def _psql(name: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", _url(name).replace("postgres://", "postgresql://"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@contextmanager
def scratch_databases(count: int):
    """``count`` new empty databases, dropped on leaving whatever happened."""
    names = [f"smscrm_backup_test_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    try:
        for name in names:
            subprocess.run(["createdb", *_pg_args(), name], check=True, capture_output=True)
        yield names
    finally:
        for name in names:
            subprocess.run(["dropdb", *_pg_args(), "--if-exists", "--force", name], capture_output=True)


def _env(tmp_path: Path, database: str, **extra: str) -> dict[str, str]:
    """The environment of the scripts and of manage.py in a subprocess: a development process on
    ``database`` (not pytest's test mode), its files under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "REDIS_URL", "BACKUP_NOW"}}
    env.update(
        DATABASE_URL=_url(database),
        DJANGO_ENV="development",
        CELERY_TASK_ALWAYS_EAGER="True",
        MEDIA_ROOT=str(tmp_path / "media"),
        SMS_SIMULATOR_LOG=str(tmp_path / "simulator.log"),
        RESTORE_DRILL_LOG=str(tmp_path / "restore_drills.log"),
        PYTHON=str(PYTHON),
    )
    env.update(extra)
    return env


def _fake_pg_dump(tmp_path: Path, script: str) -> str:
    """A PATH whose pg_dump is ``script`` (psql and the rest stay the real ones)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "pg_dump").write_text(script)
    (bin_dir / "pg_dump").chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def _run(script: Path, *args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _one_line_refusal(result: subprocess.CompletedProcess, script: str, words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"{script}: ") and words in lines[-1], result.stderr


def test_a_backup_is_a_named_dump_its_checksum_and_the_media(tmp_path):
    media = tmp_path / "media" / "imports"
    media.mkdir(parents=True)
    (media / "contacts.csv").write_text("phone\n+61400000000\n")
    with scratch_databases(1) as (source,):
        _psql(source, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2)")
        result = _run(BACKUP, "--dir", str(tmp_path / "out"), "--now", "20261205_101500", env=_env(tmp_path, source))
        assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "smscrm_20261205_101500.dump",
        "smscrm_20261205_101500.dump.sha256",
        "smscrm_20261205_101500.media.tar.gz",
    ]
    dump, media = out / "smscrm_20261205_101500.dump", out / "smscrm_20261205_101500.media.tar.gz"
    sums = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}" for f in (dump, media)]
    assert (out / "smscrm_20261205_101500.dump.sha256").read_text().splitlines() == sums
    assert subprocess.run(["sha256sum", "--check", "--quiet", f"{dump.name}.sha256"], cwd=out).returncode == 0
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True)
    assert "TABLE DATA public kept" in listing.stdout  # a custom-format dump pg_restore reads
    with tarfile.open(out / "smscrm_20261205_101500.media.tar.gz") as archive:
        assert "./imports/contacts.csv" in archive.getnames()


def test_backup_refuses_what_it_cannot_back_up_with_one_line(tmp_path):
    env = _env(tmp_path, "unused")
    out = str(tmp_path / "out")
    _one_line_refusal(_run(BACKUP, "--dir", out, env={**env, "DATABASE_URL": "sqlite:///x.db"}), "backup.sh", "SQLite")
    refused = _run(BACKUP, "--dir", out, env={**env, "DATABASE_URL": "mysql://u@h/db"})
    _one_line_refusal(refused, "backup.sh", "postgres:// URL")
    _one_line_refusal(_run(BACKUP, "--dir", out, "--now", "yesterday", env=env), "backup.sh", "YYYYMMDD_HHMMSS")
    with scratch_databases(1) as (source,):
        old = {**_env(tmp_path, source), "PATH": _fake_pg_dump(tmp_path, OLD_PG_DUMP)}
        _one_line_refusal(_run(BACKUP, "--dir", out, env=old), "backup.sh", "pg_dump 9 is older than the server")
        bare = tmp_path / "bare"  # a PATH with the shell and coreutils the script needs, no pg_dump
        bare.mkdir()
        for tool in ("bash", "dirname", "date"):
            (bare / tool).symlink_to(shutil.which(tool))
        missing = {**_env(tmp_path, source), "PATH": str(bare)}
        _one_line_refusal(_run(BACKUP, "--dir", out, env=missing), "backup.sh", "pg_dump not found")
    assert not list(tmp_path.glob("out/smscrm_*"))


def test_a_dump_killed_half_way_leaves_no_backup(tmp_path):
    out = tmp_path / "out"
    with scratch_databases(1) as (source,):
        env = {**_env(tmp_path, source), "PATH": _fake_pg_dump(tmp_path, SLOW_PG_DUMP)}
        # The whole run killed at once (the machine lost power, the OOM killer): no trap runs.
        process = subprocess.Popen([str(BACKUP), "--dir", str(out)], env=env, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 10
        while not [p for p in out.glob(".smscrm_*") if p.stat().st_size > 0] and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert [p for p in out.glob(".smscrm_*.partial.*") if p.stat().st_size > 0]  # it was writing
        assert list(out.glob("smscrm_*")) == []  # but nothing looks like a backup
        # pg_dump alone dies (killed, or the disk filled): the script says so and cleans up.
        process = subprocess.Popen(
            [str(BACKUP), "--dir", str(out)], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 10
        pids = []
        while not pids and time.monotonic() < deadline:
            time.sleep(0.05)
            found = subprocess.run(["pgrep", "-f", f"{tmp_path}/fakebin/pg_dump"], capture_output=True, text=True)
            pids = found.stdout.split()
        assert pids
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode != 0 and stderr.strip().splitlines()[-1].startswith("backup.sh: pg_dump failed")
    assert list(out.glob("smscrm_*")) == []
    assert len(list(out.glob(".smscrm_*"))) == 1  # only the first run's, whose process never got to clean


def test_retention_keeps_seven_days_and_four_older_weeks_over_sixty_days(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    foreign = ["notes.txt", "smscrm_manual.dump", "smscrm_20200101_000000.dump.bak", "other_20200101_000000.dump"]
    for name in foreign:
        (out / name).write_text("not a backup of ours")
    first = dt.datetime(2026, 9, 1, 2, 30)
    with scratch_databases(1) as (source,):
        env = {**_env(tmp_path, source), "PATH": _fake_pg_dump(tmp_path, FAST_PG_DUMP)}
        for day in range(60):
            stamp = f"{first + dt.timedelta(days=day):%Y%m%d_%H%M%S}"
            result = _run(BACKUP, "--dir", str(out), env={**env, "BACKUP_NOW": stamp})
            assert result.returncode == 0, result.stderr
        newest = stamp
        kept = sorted(p.name.removeprefix("smscrm_").removesuffix(".dump") for p in out.glob("smscrm_*_*.dump"))
        days = [dt.datetime.strptime(stamp, "%Y%m%d_%H%M%S") for stamp in kept]
        assert len(kept) == 11 and kept[-1] == newest
        daily, weekly = days[-7:], days[:-7]
        assert daily == [first + dt.timedelta(days=day) for day in range(53, 60)]
        # The weekly ones: the newest of each of the four ISO weeks before the daily ones' weeks.
        weeks = [day.isocalendar()[:2] for day in weekly]
        assert len(set(weeks)) == 4 and not set(weeks) & {day.isocalendar()[:2] for day in daily}
        assert all(day.isoweekday() == 7 for day in weekly)  # Sunday: the last day of its week
        for stamp in kept:
            assert (out / f"smscrm_{stamp}.dump.sha256").exists() and (out / f"smscrm_{stamp}.media.tar.gz").exists()
        assert len(list(out.glob("smscrm_*.sha256"))) == len(list(out.glob("smscrm_*.media.tar.gz"))) == 11
        for name in foreign:
            assert (out / name).read_text() == "not a backup of ours"
        # Settable from the environment; a backup made "in the past" is still never the one deleted.
        tighter = {**env, "BACKUP_KEEP_DAILY": "2", "BACKUP_KEEP_WEEKLY": "1", "BACKUP_NOW": "20260901_010000"}
        assert _run(BACKUP, "--dir", str(out), env=tighter).returncode == 0
    left = sorted(p.name for p in out.glob("smscrm_*_*.dump"))
    assert left[0] == "smscrm_20260901_010000.dump" and left[-1] == f"smscrm_{newest}.dump" and len(left) == 4


def test_restore_refuses_a_bad_checksum_a_non_empty_target_and_a_beating_live_database(tmp_path):
    out = tmp_path / "out"
    with scratch_databases(2) as (source, target):
        _psql(source, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2), (3)")
        env = _env(tmp_path, source)
        assert _run(BACKUP, "--dir", str(out), "--now", "20261205_101500", env=env).returncode == 0
        dump = out / "smscrm_20261205_101500.dump"
        tampered = out / "smscrm_20261205_111500.dump"
        data = bytearray(dump.read_bytes())
        data[-10] ^= 0xFF
        tampered.write_bytes(bytes(data))
        good = hashlib.sha256(dump.read_bytes()).hexdigest()
        (out / f"{tampered.name}.sha256").write_text(f"{good}  {tampered.name}\n")  # the good dump's sum
        into = ["--into", _url(target)]
        _one_line_refusal(_run(RESTORE, str(tampered), *into, env=env), "restore.sh", "checksum mismatch")
        media = out / "smscrm_20261205_101500.media.tar.gz"
        good_media = media.read_bytes()
        media.write_bytes(b"not the tarball")
        _one_line_refusal(_run(RESTORE, str(dump), *into, env=env), "restore.sh", "checksum mismatch for " + str(media))
        media.write_bytes(good_media)
        (out / "unsigned.dump").write_bytes(dump.read_bytes())
        _one_line_refusal(_run(RESTORE, str(out / "unsigned.dump"), *into, env=env), "restore.sh", "no checksum")
        assert _psql(target, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == "0"

        _psql(target, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (7)")
        _one_line_refusal(_run(RESTORE, str(dump), *into, env=env), "restore.sh", "not empty")
        assert _psql(target, "SELECT count(*) FROM precious") == "1"

        # The live database (DATABASE_URL) with a worker beating a minute ago: refused, even --force aside.
        _psql(target, "CREATE TABLE smscrm_heartbeat (component varchar(32) PRIMARY KEY, beat_at timestamptz)")
        _psql(target, "INSERT INTO smscrm_heartbeat VALUES ('worker:dispatch', now() - interval '1 minute')")
        live = {**env, "DATABASE_URL": _url(target)}
        _one_line_refusal(_run(RESTORE, str(dump), env=live), "restore.sh", "worker:dispatch are beating")
        _psql(target, "UPDATE smscrm_heartbeat SET beat_at = now() - interval '1 hour'")
        _one_line_refusal(_run(RESTORE, str(dump), env=live), "restore.sh", "not empty")  # stopped: next check

        forced = _run(RESTORE, str(dump), *into, "--force", env=env)  # migrate --check fails: no migrations
        assert "after: kept 3" in forced.stdout and "before: precious 1" in forced.stdout
        assert _psql(target, "SELECT count(*) FROM kept") == "3"
    drills = [json.loads(line) for line in (tmp_path / "restore_drills.log").read_text().splitlines()]
    assert drills[0]["result"].startswith(f"checksum mismatch for {tampered}")
    assert drills[1]["result"].startswith(f"checksum mismatch for {media}")
    assert drills[2]["result"].startswith("no checksum") and drills[3]["result"].startswith(
        "the target database is not"
    )
    assert all(set(drill) == {"at", "file", "target", "result"} for drill in drills)
    assert drills[-1]["file"] == str(dump) and drills[-1]["target"].endswith(f"/{target}")


TABLE_CHECKSUMS = """
SELECT string_agg(format(
    'SELECT %L, count(*), md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) FROM public.%I t',
    table_name, '|', '', table_name), ' UNION ALL ' ORDER BY table_name)
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
"""

TIMELINE = """
from contacts.models import DoNotContact, Contact
from reporting.timeline import contact_timeline
dnc = DoNotContact.objects.order_by("id").first()
contact = Contact.objects.get(tenant=dnc.tenant, phone_e164=dnc.phone_e164)
timeline = contact_timeline(tenant=contact.tenant, contact=contact)
print("TIMELINE", contact.phone_e164, len(timeline), repr(list(timeline)))
"""


def _contents(database: str) -> dict[str, tuple[str, str]]:
    """Every table's row count and a checksum of its rows, and every sequence's position."""
    rows = _psql(database, _psql(database, TABLE_CHECKSUMS)).splitlines()
    contents = {name: (count, digest) for name, count, digest in (row.split("|") for row in rows)}
    for row in _psql(database, "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'").split():
        name, value = row.split("|")
        contents[f"sequence {name}"] = (value, "")
    return contents


def test_a_real_database_comes_back_row_for_row(tmp_path):
    """Round trip: a migrated database with a sent demo campaign (consent, opt-outs, provider
    events, clicks, audit) → backup.sh → restore.sh into an empty database → the same rows."""
    with scratch_databases(2) as (source, restored):
        env = _env(tmp_path, source)
        _manage("migrate", "-v0", env=env)
        _manage("seed_demo", env=env)
        # 14:00 in Sydney: every Australian zone is inside its sending window.
        _manage(
            "shell",
            "-c",
            "import datetime as dt, time_machine\n"
            "from django.core.management import call_command\n"
            "with time_machine.travel(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=True):\n"
            "    call_command('demo_campaign', tenant='demo', contacts=50, once=True, callbacks='inprocess')\n",
            env=env,
        )
        source_contents = _contents(source)
        for table in ("contacts_consentrecord", "contacts_donotcontact", "messaging_message", "links_click"):
            assert int(source_contents[table][0]) > 0, table
        for table in ("messaging_providerevent", "tenants_auditevent", "campaigns_campaign"):
            assert int(source_contents[table][0]) > 0, table

        backup = _run(BACKUP, "--dir", str(tmp_path / "out"), "--now", "20261205_101500", env=env)
        assert backup.returncode == 0, backup.stderr
        dump = tmp_path / "out" / "smscrm_20261205_101500.dump"
        restore = _run(RESTORE, str(dump), "--into", _url(restored), env=env)
        assert restore.returncode == 0, restore.stderr
        after = [line for line in restore.stdout.splitlines() if line.startswith("after: ")]
        assert "after: messaging_message 55" in after and len(after) == sum(
            1 for name in source_contents if not name.startswith("sequence ")
        )

        assert _contents(restored) == source_contents
        restored_env = _env(tmp_path, restored)
        _manage("check", env=restored_env)
        timelines = [_manage("shell", "-c", TIMELINE, env=e) for e in (env, restored_env)]
        timelines = [next(line for line in t.splitlines() if line.startswith("TIMELINE")) for t in timelines]
        assert timelines[0] == timelines[1] and " 0 []" not in timelines[0]
    drill = json.loads((tmp_path / "restore_drills.log").read_text().splitlines()[-1])
    assert drill["result"] == "ok" and drill["file"] == str(dump)


@pytest.mark.parametrize("backup_dir", ["", "/var/backups/smscrm"])
def test_beat_runs_the_backup_daily_only_when_a_directory_is_set(backup_dir):
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(BACKUP_DIR=backup_dir, DJANGO_ENV="development")
    code = "from django.conf import settings as s; print(s.CELERY_BEAT_SCHEDULE.get('smscrm-backup'))"
    result = subprocess.run(
        [str(PYTHON), "manage.py", "shell", "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=True
    )
    printed = result.stdout.strip().splitlines()[-1]  # after shell's "objects imported" note
    if backup_dir:
        assert "'task': 'smscrm.backup'" in printed and "86400.0" in printed
    else:
        assert printed == "None"


def test_the_beat_task_runs_backup_sh_into_backup_dir_and_raises_its_reason(tmp_path, settings, monkeypatch):
    from smscrm.tasks import backup

    _server()
    monkeypatch.setenv("PATH", _fake_pg_dump(tmp_path, FAST_PG_DUMP))
    monkeypatch.setenv("DATABASE_URL", _url(settings.DATABASES["default"]["NAME"]))
    settings.BACKUP_DIR = str(tmp_path / "out")
    settings.MEDIA_ROOT = tmp_path / "media"
    backup()
    assert len(list((tmp_path / "out").glob("smscrm_*_*.dump"))) == 1
    settings.BACKUP_DIR = str(tmp_path / "out" / list((tmp_path / "out").glob("*.dump"))[0].name)  # a file
    with pytest.raises(RuntimeError, match=r"^backup.sh: "):
        backup()
    # A dump that hangs is stopped at the timeout, with pg_dump, and leaves nothing behind.
    monkeypatch.setenv("PATH", _fake_pg_dump(tmp_path, SLOW_PG_DUMP))
    monkeypatch.setattr("smscrm.tasks.BACKUP_TIMEOUT_SECONDS", 1)
    settings.BACKUP_DIR = str(tmp_path / "hung")
    with pytest.raises(RuntimeError, match="took over 1 s"):
        backup()
    assert list((tmp_path / "hung").iterdir()) == []
    still = subprocess.run(["pgrep", "-f", f"{tmp_path}/fakebin/pg_dump"], capture_output=True, text=True)
    assert still.stdout == ""
