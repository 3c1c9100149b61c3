"""Cutover items about running the service: a fresh backup, a restore drill, the health checks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from smscrm.cutover import FAIL, PASS, TODO, Result
from smscrm.health import run_checks
from tenants.models import Tenant

#: scripts/backup.sh's names: smscrm_YYYYMMDD_HHMMSS.dump (UTC), its checksum beside it as .dump.sha256.
DUMP_NAME = re.compile(r"^smscrm_(\d{8}_\d{6})\.dump$")
BACKUP_MAX_AGE = timedelta(hours=24)


def _hours(age: timedelta) -> str:
    return f"{max(age.total_seconds(), 0) / 3600:.1f} h"


def backup(tenant: Tenant) -> Result:
    where = settings.BACKUP_DIR
    run_one = f"Run `scripts/backup.sh --dir {where or 'DIR'}` (beat runs it daily while BACKUP_DIR is set)."
    if not where:
        return Result(TODO, "BACKUP_DIR is not set: no daily backup runs", "Set BACKUP_DIR. " + run_one)
    directory = Path(where)
    if not directory.is_dir():
        return Result(
            FAIL, f"BACKUP_DIR {where} is not a directory", f"Create {where} (writable by the app), then run a backup."
        )
    stamps = sorted(match[1] for path in directory.iterdir() if (match := DUMP_NAME.match(path.name)))
    if not stamps:
        return Result(TODO, f"no backup in {where} yet", run_one)
    newest = f"smscrm_{stamps[-1]}.dump"
    taken = datetime.strptime(stamps[-1], "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    age = timezone.now() - taken
    if age > BACKUP_MAX_AGE:
        return Result(FAIL, f"newest backup {newest} is {_hours(age)} old", "Check that beat is running. " + run_one)
    if not (directory / f"{newest}.sha256").is_file():
        return Result(FAIL, f"{newest} has no {newest}.sha256 beside it: restore.sh will refuse it", run_one)
    return Result(PASS, f"{newest} in {where}, {_hours(age)} old, with its checksum")


def _last_drill(path: Path) -> dict | None:
    last = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a half-written or foreign line: not a drill
        if isinstance(entry, dict) and "result" in entry:
            last = entry
    return last


def restore_drill(tenant: Tenant) -> Result:
    path = Path(settings.RESTORE_DRILL_LOG)
    step = "Restore the newest backup into a scratch database: `scripts/restore.sh FILE --into postgres://…/scratch`."
    if not path.is_file():
        return Result(TODO, f"no drill recorded ({path} does not exist)", step)
    drill = _last_drill(path)
    if drill is None:
        return Result(TODO, f"no drill recorded in {path}", step)
    what = f"last drill {drill.get('at', '?')} of {Path(str(drill.get('file', '?'))).name}"
    if drill["result"] != "ok":
        return Result(FAIL, f"{what}: {drill['result']}", "Fix what stopped it, then try again. " + step)
    return Result(PASS, f"{what}: ok")


def health(tenant: Tenant) -> Result:
    healthy, results = run_checks()
    if healthy:
        return Result(PASS, f"{len(results)} checks ok: {', '.join(results)}")
    failing = [
        f"{name} ({result.get('error', result['status'])})"
        for name, result in results.items()
        if result["status"] != "ok"
    ]
    return Result(
        FAIL,
        "failing: " + "; ".join(failing),
        "Start what is down (`manage.py health` says what); see docs/runbook.md.",
    )
