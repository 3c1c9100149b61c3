"""Long-running processes outlive the database and Redis going away (PostgreSQL only).

Each test runs the real process (``manage.py dispatch --loop``, ``celery beat``) against the
test database through a TCP proxy it can cut, and (for beat) a redis-server of its own that it
stops and starts empty: never the machine's shared servers.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from campaigns import dispatch
from campaigns.dispatch import chunks
from campaigns.models import JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup
from campaigns.tests.test_dispatch_concurrency import _open_window_now, daytime, quick_contacts, require_postgresql
from messaging.backends.base import get_backend
from smscrm.models import Heartbeat
from smscrm.testing.services import RedisServer, TcpProxy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" and os.environ.get("SMSCRM_REQUIRE_SERVICES") != "1",
        reason="PostgreSQL unavailable: the processes run against a real server through a proxy",
    ),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proxy():
    require_postgresql()
    db = connection.settings_dict
    server = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
    yield server
    server.stop()


def through(proxy: TcpProxy) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"


def process_env(**extra) -> dict[str, str]:
    env = {**os.environ, "DJANGO_ENV": "development", "DB_CONNECT_TIMEOUT": "2", **extra}
    env.pop("PYTEST_VERSION", None)  # a plain process, not a test
    return env


def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting ({seconds:.0f} s) for {what}")


def accepted(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_the_dispatch_loop_outlives_a_database_outage_and_finishes(tenant, proxy, tmp_path, settings):
    log = tmp_path / "simulator.log"
    with daytime():
        sending_setup(tenant, mps=1000)
        tenant.messages_per_second = 40  # 200 messages take ~5 s: time to cut the database mid-way
        tenant.save(update_fields=["messages_per_second"])
        contacts = quick_contacts(tenant, 200)
        campaign = launched(tenant, contacts=contacts)
    SendJob.objects.filter(campaign=campaign).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=1))
    _open_window_now(tenant)
    env = process_env(
        DATABASE_URL=through(proxy),
        SMS_BACKEND="simulator",
        SMS_SIMULATOR_CALLBACKS="off",
        SMS_SIMULATOR_LOG=str(log),
        DISPATCH_BATCH_SIZE="50",
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "dispatch", "--loop", "--idle-exit", "3"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: accepted(log) >= 40, seconds=60, what="the first messages")
        proxy.cut()
        cut_at = accepted(log)
        time.sleep(4)
        assert worker.poll() is None, "the loop exited during the outage"
        assert accepted(log) <= cut_at + chunks.HANDOFF_CHUNK  # nothing new started without the database
        proxy.restore()
        out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert err.count("unavailable") == 1 and err.count("back after") == 1, err  # one line each, not one per try

    # A chunk cut mid-record stays "sending": the reconciler settles it from the provider's log.
    settings.SMS_SIMULATOR_LOG = log
    dispatch.reconcile_sending(backend=get_backend("simulator"), older_than=dt.timedelta(0))
    dispatch.dispatch(backend=get_backend("simulator"))
    references = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(references) == len(set(references)) == 200  # every message handed over exactly once
    statuses = dict(campaign.jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    assert statuses == {JobStatus.SENT: 200}


def test_beat_outlives_the_database_and_the_broker_going_away(proxy, tmp_path):
    require_postgresql()
    if not RedisServer.available():
        pytest.fail("redis-server is not installed: the broker outage cannot be staged")
    redis = RedisServer(tmp_path).start()
    import redis as redis_client

    queue = redis_client.Redis.from_url(redis.url)
    env = process_env(DATABASE_URL=through(proxy), REDIS_URL=redis.url, HEARTBEAT_INTERVAL_SECONDS="1")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "smscrm", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "beat-schedule"), "--pidfile", ""],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip

    def beat_at():
        row = Heartbeat.objects.filter(component="beat").first()
        return row.beat_at if row else None

    try:
        wait_for(lambda: beat_at() is not None and queue.llen("default") > 0, seconds=60, what="beat's first tick")
        # The database goes away, then comes back.
        proxy.cut()
        time.sleep(5)
        assert beat.poll() is None, "beat exited when the database went away"
        restored = timezone.now()
        proxy.restore()
        wait_for(lambda: beat_at() > restored, seconds=30, what="beat's heartbeat after the database returned")
        # The broker goes away, and comes back empty (it keeps nothing on disk).
        redis.stop()
        time.sleep(4)
        assert beat.poll() is None, "beat exited when the broker went away"
        redis.start()
        wait_for(lambda: queue.llen("default") > 0, seconds=20, what="tasks sent again after the broker returned")
        assert beat.poll() is None
    finally:
        beat.terminate()
        try:
            output = beat.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            # Shutting down is not what this test is about (compose gives beat 10 s, then
            # SIGKILL, and beat keeps nothing that matters): its log is what is checked.
            beat.kill()
            output = beat.communicate()[0]
        redis.stop()
    assert output.count("beat: the database unavailable") == 1, output
    assert output.count("beat: the database back after") == 1, output
    assert output.count("beat: the broker unavailable") == 1, output
    assert output.count("beat: the broker back after") == 1, output
