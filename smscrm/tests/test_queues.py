"""Celery queues: sending (``dispatch``) never waits behind an import or a report refresh.

The routing table in settings sends every task of ours to a named queue; two real workers, one
on ``imports`` and one on ``dispatch``, show a dispatch task finishing while an import runs.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from conftest import require_service
from smscrm.celery import app
from smscrm.tests import queues_app

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "dispatch": {
        "campaigns.dispatch",
        "campaigns.reconcile_sending",
        "messaging.send_conversation_reply",
        "messaging.sweep_conversation_replies",
    },
    "imports": {
        "contacts.import_preview",
        "contacts.import_commit",
        "contacts.resume_stalled_imports",
        "contacts.sweep_incoming_uploads",
        "campaigns.create_jobs",
        "campaigns.prepare_pending",
        "reporting.pilot_check",
        "reporting.pilot_runs_resume",
        "smscrm.backup",
    },
    "default": {
        "reporting.refresh_campaign",
        "reporting.refresh_stats",
        "reporting.refresh_tenant",
        "messaging.simulator_deliver",
        "messaging.reconcile_prices",
        "messaging.apply_pending_events",
        "messaging.look_up_statuses",
        "messaging.notify_waiting_conversations",
        "links.flush_clicks",
        "tenants.send_login_link",
        "tenants.send_invitation",
        "tenants.idempotency_purge",
        "webhooks.deliver",
        "webhooks.deliver_due",
        "smscrm.tasks.worker_heartbeat",
    },
}


def queue_of(name: str) -> str:
    """The queue the app's router sends task ``name`` to (as ``delay``/``send_task`` would)."""
    return app.amqp.router.route({}, name)["queue"].name


def our_tasks() -> set[str]:
    app.loader.import_default_modules()  # what a worker does at start: autodiscover every app's tasks
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_each_task_goes_to_its_queue():
    for queue, names in EXPECTED.items():
        for name in names:
            assert queue_of(name) == queue, name
    assert set(settings.WORKER_QUEUES) == set(EXPECTED)
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "default"


def test_every_task_of_ours_is_routed_explicitly():
    """A new task cannot be forgotten: it must be given a queue in CELERY_TASK_ROUTES."""
    ours = our_tasks()
    assert len(ours) >= 20, ours
    unrouted = ours - set(settings.CELERY_TASK_ROUTES)
    assert not unrouted, f"give these tasks a queue in CELERY_TASK_ROUTES: {sorted(unrouted)}"
    assert ours == set().union(*EXPECTED.values()), "update EXPECTED here with the new task's queue"
    stale = set(settings.CELERY_TASK_ROUTES) - ours
    assert not stale, f"routes for tasks that no longer exist: {sorted(stale)}"
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} == set(settings.WORKER_QUEUES)


def test_an_unknown_task_goes_to_the_default_queue():
    assert queue_of("nobody.knows") == "default"


def test_the_dispatch_queue_holds_short_tasks_only():
    """Nothing that walks a file or an audience may sit in front of the dispatcher."""
    assert {name for name in our_tasks() if queue_of(name) == "dispatch"} == EXPECTED["dispatch"]


@pytest.mark.django_db
def test_tasks_still_run_eagerly_in_tests():
    """Routing changes where a task is sent, not that tests run it in-process at once."""
    from smscrm.models import Heartbeat
    from smscrm.tasks import worker_heartbeat

    assert app.conf.task_always_eager
    worker_heartbeat.delay(queue="imports")
    assert Heartbeat.objects.filter(component="worker:imports").exists()


# --- real worker processes ----------------------------------------------------------------------

START_SECONDS = 120  # a worker's start on a loaded 2-core machine, and a task's trip through Redis
STOP_SECONDS = 30


def _redis_client() -> redis.Redis:
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL to run real Celery workers")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", False, f"{type(exc).__name__}: {exc}")
    return client


def _wait_for(condition, *, seconds: float, what: str, workers: dict, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        for queue, worker in workers.items():
            if worker.poll() is not None:
                pytest.fail(f"the {queue} worker exited ({worker.returncode}):\n{_tail(logs / f'{queue}.log')}")
        time.sleep(0.1)
    tails = "\n".join(f"--- {queue} worker:\n{_tail(logs / f'{queue}.log')}" for queue in workers)
    pytest.fail(f"{what}: not within {seconds:.0f}s\n{tails}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def _start_worker(queue: str, prefix: str, token: str, logs: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        queues_app.PREFIX_ENV: prefix,
        "DJANGO_SETTINGS_MODULE": "smscrm.settings",
        "REDIS_URL": settings.REDIS_URL,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "smscrm.tests.queues_app",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{queue}-{token}@%h",
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
    with (logs / f"{queue}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=STOP_SECONDS)


def test_a_dispatch_task_finishes_while_an_import_runs(tmp_path):
    """Two real workers as Procfile.dev and compose run them (one on imports, one on dispatch):
    a long task on the imports queue does not hold up a dispatch task sent after it."""
    client = _redis_client()
    token = uuid.uuid4().hex[:12]
    prefix = f"smscrm-test-queues:{token}:"  # every broker key and signal of this test, and no other's

    def signal(name: str) -> str:
        return queues_app.key(prefix, name)

    producer = queues_app.make_app(prefix)
    # The stand-ins go where the tasks they stand for go.
    assert producer.amqp.router.route({}, queues_app.SLOW)["queue"].name == queue_of("contacts.import_commit")
    assert producer.amqp.router.route({}, queues_app.QUICK)["queue"].name == queue_of("campaigns.dispatch")
    workers: dict[str, subprocess.Popen] = {}
    try:
        for queue in ("imports", "dispatch"):
            workers[queue] = _start_worker(queue, prefix, token, tmp_path)

        producer.send_task(queues_app.SLOW)
        _wait_for(
            lambda: client.exists(signal("slow-started")),
            seconds=START_SECONDS,
            what="the imports worker starting the long task",
            workers=workers,
            logs=tmp_path,
        )
        producer.send_task(queues_app.QUICK)
        _wait_for(
            lambda: client.exists(signal("quick-done")),
            seconds=START_SECONDS,
            what="the dispatch task finishing while the long task runs",
            workers=workers,
            logs=tmp_path,
        )
        # The long task was still running (it runs until released), and each ran on its own worker.
        assert not client.exists(signal("slow-finished"))
        assert client.get(signal("slow-started")).decode().startswith(f"imports-{token}@")
        assert client.get(signal("quick-done")).decode().startswith(f"dispatch-{token}@")

        client.set(signal("slow-release"), 1)
        _wait_for(
            lambda: client.exists(signal("slow-finished")),
            seconds=START_SECONDS,
            what="the long task finishing once released",
            workers=workers,
            logs=tmp_path,
        )
    finally:
        client.set(signal("slow-release"), 1)  # a warm shutdown waits for the task in hand
        for worker in workers.values():
            _stop(worker)
        producer.close()
        for stale in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(stale)
        client.close()
