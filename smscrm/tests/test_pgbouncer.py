"""The app behind PgBouncer (docs/runbook.md, "PgBouncer"): a private pgbouncer in front of the
test database, the app in a subprocess connecting through it (smscrm/tests/pgbouncer_probe.py).

In transaction mode with DB_PGBOUNCER: the app connects and checks, a whole demo campaign goes
through the dispatcher and leaves no advisory lock behind, an export's ``.iterator()`` reads every
row while other clients use the pool. The concurrent hand-off's holds need session pooling: in
transaction mode a number's hold outlives its release, and an opt-out for it would wait.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection, transaction

from conftest import require_service
from contacts import guard
from contacts.models import DncReason, DoNotContact

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+61412345678"


def _binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(path, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bouncer:
    """A pgbouncer process of our own: its ini and log in a directory of its own, on a free port."""

    def __init__(self, pool_mode: str):
        server = connection.settings_dict
        self.database = server["NAME"]
        self.port = _free_port()
        # Readable by the user pgbouncer drops to when started as root (it refuses to run as root).
        self.dir = Path(tempfile.mkdtemp(prefix="smscrm-pgbouncer-"))
        self.dir.chmod(0o755)
        password = f" password={server['PASSWORD']}" if server.get("PASSWORD") else ""
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={server['HOST'] or '127.0.0.1'} port={server['PORT'] or 5432} user={server['USER']}{password}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = any\npool_mode = {pool_mode}\ndefault_pool_size = 4\nmax_client_conn = 50\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        ini.chmod(0o644)
        self.log = self.dir / "pgbouncer.log"
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with self.log.open("w") as log:
            self.process = subprocess.Popen([_binary(), *user, str(ini)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"pgbouncer did not start: {self.log.read_text()[-500:]}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"postgres://app@127.0.0.1:{self.port}/{self.database}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def bouncer():
    """``bouncer("transaction")`` starts one; all are stopped after the test (their server
    connections, and any session lock left on them, go with them)."""
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", False, "PgBouncer sits in front of PostgreSQL; DATABASE_URL is not one")
    require_service("pgbouncer", _binary() is not None, "no pgbouncer binary (apt-get install pgbouncer)")
    started: list[Bouncer] = []

    def start(pool_mode: str = "transaction") -> Bouncer:
        started.append(Bouncer(pool_mode))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    """A development process on ``url`` (no Redis: its cache and limiter are local and the database)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "REDIS_URL"}}
    env.update(
        DATABASE_URL=url,
        DJANGO_ENV="development",
        DB_PGBOUNCER="true",
        CELERY_TASK_ALWAYS_EAGER="True",
        MEDIA_ROOT=str(tmp_path / "media"),
        SMS_SIMULATOR_LOG=str(tmp_path / "simulator.log"),
    )
    env.update(extra)
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _probe(env: dict[str, str], *args: str) -> dict:
    result = _run(env, "-m", "smscrm.tests.pgbouncer_probe", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _advisory_locks() -> list[tuple[int, int, str]]:
    """Advisory locks held in the test database by any session: (key 1, key 2, mode)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid::int, objid::int, mode FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_the_app_connects_through_transaction_pooling_only_with_db_pgbouncer(bouncer, tmp_path):
    pool = bouncer("transaction")
    for command in (["migrate", "--check"], ["health", "database"]):
        result = _run(_env(tmp_path, pool.url), "manage.py", *command)
        assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-2000:]
    # Without it the app sends "-c jit=off" as a startup option, which PgBouncer refuses.
    refused = _run(_env(tmp_path, pool.url, DB_PGBOUNCER="false"), "manage.py", "health", "database")
    assert refused.returncode == 1
    assert "unsupported" in refused.stdout and "options" in refused.stdout


@pytest.mark.django_db(transaction=True)
def test_a_demo_campaign_goes_through_transaction_pooling_and_leaves_no_lock_held(bouncer, tenant, tmp_path):
    pool = bouncer("transaction")
    summary = _probe(_env(tmp_path, pool.url), "demo", tenant.slug)
    assert summary["contacts"] == 20 and summary["sent"] == 20 and summary["duplicates"] == 0
    assert [answer["http"] for answer in summary["inbound"].values()] == [200, 200, 200]
    assert DoNotContact.objects.filter(tenant=tenant).count() == 2
    assert _advisory_locks() == []  # the pool's server connections are still open: none kept one


@pytest.mark.django_db(transaction=True)
def test_an_export_iterator_reads_every_row_while_others_use_the_pool(bouncer, tenant, tmp_path):
    DoNotContact.objects.bulk_create(
        DoNotContact(tenant=tenant, phone_e164=f"+614123450{n:02d}", reason=DncReason.MANUAL) for n in range(25)
    )
    pool = bouncer("transaction")
    assert _probe(_env(tmp_path, pool.url), "export", str(tenant.pk)) == {"rows": 25}


def _opt_out_waits(tenant_id: int) -> bool:
    """Would an opt-out for PHONE (dnc_add's exclusive lock) have to wait right now?"""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '300ms'")
            guard.lock_number_exclusively(tenant_id, PHONE)
    except OperationalError:
        return True
    return False


@pytest.mark.django_db(transaction=True)
def test_concurrent_hand_off_holds_outlive_their_release_under_transaction_pooling(bouncer, tenant, tmp_path):
    pool = bouncer("transaction")
    result = _probe(_env(tmp_path, pool.url), "holds", str(tenant.pk), PHONE)
    # The release ran on another server connection than the hold: the hold stayed where it was.
    assert result["released_by"] != result["held_by"]
    assert _advisory_locks() == [(tenant.pk, guard._key(PHONE), "ShareLock")]
    assert _opt_out_waits(tenant.pk)  # hence: dispatch workers on a session pool (runbook)


@pytest.mark.django_db(transaction=True)
def test_concurrent_hand_off_holds_are_released_under_session_pooling(bouncer, tenant, tmp_path):
    pool = bouncer("session")
    result = _probe(_env(tmp_path, pool.url), "holds", str(tenant.pk), PHONE)
    assert result["released_by"] == result["held_by"] and result["blocked"] == []
    assert _advisory_locks() == []
    assert not _opt_out_waits(tenant.pk)
