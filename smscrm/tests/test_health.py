"""GET /health: 200 when every check passes, 503 naming the check that fails."""

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns.models import CampaignStatus, JobStatus, SendJob
from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from smscrm.heartbeats import BEAT, heartbeat_record, worker_component, worker_components
from smscrm.models import Heartbeat
from smscrm.tasks import worker_heartbeat
from tenants.tests.factories import TenantFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_heartbeats():
    for component in (*worker_components(), BEAT):
        heartbeat_record(component=component)


def test_healthy_answers_200_without_login_or_tenant_data(client, fresh_heartbeats, tenant, settings):
    response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    workers = {"worker:dispatch", "worker:imports", "worker:default"}
    expected = {"database", *workers, BEAT, "queues", "send_jobs"} | ({"redis"} if settings.REDIS_URL else set())
    assert set(body["checks"]) == expected
    assert body["short_domain"] == settings.SHORT_DOMAIN
    assert tenant.name not in response.content.decode() and tenant.slug not in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")


def test_stale_worker_heartbeat_fails_naming_its_queue(client, fresh_heartbeats, settings):
    Heartbeat.objects.filter(component="worker:dispatch").update(
        beat_at=timezone.now() - timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS + 5)
    )
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker:dispatch"]
    assert body["checks"]["worker:dispatch"]["error"].startswith("last worker (queue dispatch) heartbeat")
    assert body["checks"]["worker:imports"]["status"] == body["checks"]["worker:default"]["status"] == "ok"


def test_missing_worker_heartbeat_of_one_queue_fails_naming_it(client, fresh_heartbeats):
    Heartbeat.objects.filter(component="worker:imports").delete()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker:imports"]
    assert response.json()["checks"]["worker:imports"]["error"] == "no worker (queue imports) heartbeat recorded yet"


def test_a_heartbeat_of_the_old_single_worker_proves_no_queue(client, fresh_heartbeats):
    """A plain "worker" row (before the queues) counts for nothing: each queue needs its own."""
    Heartbeat.objects.filter(component__startswith="worker:").delete()
    heartbeat_record(component="worker")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker:default", "worker:dispatch", "worker:imports"]


def test_health_command_worker_checks_every_queue_and_names_the_failing_one(fresh_heartbeats, settings):
    stale = timezone.now() - timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS + 5)
    call_command("health", "worker", stdout=StringIO())  # every queue's worker beats
    Heartbeat.objects.filter(component="worker:imports").update(beat_at=stale)
    out = StringIO()
    with pytest.raises(CommandError, match=r"^unhealthy: worker:imports$"):
        call_command("health", "worker", stdout=out)
    checks = json.loads(out.getvalue())["checks"]
    assert set(checks) == {"worker:dispatch", "worker:imports", "worker:default"}
    assert "queue imports" in checks["worker:imports"]["error"]
    # Each worker's own check (compose) looks at its own queues only.
    call_command("health", "worker:dispatch", stdout=StringIO())
    with pytest.raises(CommandError, match="worker:imports"):
        call_command("health", "worker:default", "worker:imports", stdout=StringIO())


def test_health_command_refuses_an_unknown_check(fresh_heartbeats):
    """A misspelt name would select no check at all and always pass."""
    with pytest.raises(CommandError, match="unknown check.*worker:dispach"):
        call_command("health", "worker:dispach", stdout=StringIO())


def test_missing_beat_heartbeat_fails(client):
    for component in worker_components():
        heartbeat_record(component=component)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == [BEAT]


def test_unreachable_redis_fails_naming_redis(client, fresh_heartbeats, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health")
    assert response.status_code == 503
    # The broker is that Redis too: how many tasks wait is unknown, and that fails as well.
    assert response.json()["failing"] == ["queues", "redis"]
    assert response.json()["checks"]["redis"]["status"] == "fail"
    assert response.json()["checks"]["queues"]["error"].startswith("broker unreadable: ConnectionError")


def test_unreachable_database_fails_naming_the_database():
    """A real web process whose database is down: /health still answers, with 503."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/health');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "REDIS_URL"}}
    env.update(DJANGO_ENV="development", DATABASE_URL="postgres://nobody@127.0.0.1:1/nothing")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert "database" in answer["body"]["failing"]
    assert answer["body"]["checks"]["database"]["status"] == "fail"


def test_a_silent_database_is_waited_for_once_not_by_every_check_that_reads_it():
    """A database that takes connections and never answers (a cut network): each connection
    attempt waits DB_CONNECT_TIMEOUT. The heartbeat and send-job checks read the database too,
    and the short-link middleware looks up short domains before any view: trying each made
    /health wait seven times over, past any monitor's timeout (so health-check.sh said the web
    was unreachable, not the database). Counted as connections the silent server accepts."""
    import socket
    import threading

    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/health');"
        "print(json.dumps(r.json()))"
    )
    accepted = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)

        def accept_and_say_nothing():
            while True:
                try:
                    accepted.append(silent.accept()[0])
                except OSError:  # closed: the test is over
                    return

        threading.Thread(target=accept_and_say_nothing, daemon=True).start()
        env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "REDIS_URL"}}
        env.update(
            DJANGO_ENV="development",
            DJANGO_SETTINGS_MODULE="smscrm.settings",
            DATABASE_URL=f"postgres://nobody@127.0.0.1:{silent.getsockname()[1]}/nothing",
            DB_CONNECT_TIMEOUT="1",
        )
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
        )
    for connection in accepted:
        connection.close()
    checks = json.loads(result.stdout.strip().splitlines()[-1])["checks"]
    assert checks["database"]["status"] == "fail"
    for name in (*worker_components(), BEAT, "send_jobs"):
        assert checks[name] == {"status": "fail", "error": "not checked: the database did not answer", "ms": 0.0}
    assert len(accepted) == 1  # the database check's one attempt; nothing else waited on it


def test_health_on_a_short_domain_is_health_not_a_short_link_404(client, fresh_heartbeats, settings):
    settings.SHORT_DOMAIN = "go.example.com"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "go.example.com"]
    response = client.get("/health", HTTP_HOST="go.example.com")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert client.get("/anything-else", HTTP_HOST="go.example.com").status_code == 404


def test_liveness_checks_only_the_database(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database"}


def test_worker_heartbeat_task_records_the_worker_of_its_queue():
    worker_heartbeat.delay(queue="dispatch")
    assert list(Heartbeat.objects.values_list("component", flat=True)) == [worker_component("dispatch")]
    worker_heartbeat.delay()  # a message without the kwarg (an older beat entry): the default queue's
    assert set(Heartbeat.objects.values_list("component", flat=True)) == {"worker:dispatch", "worker:default"}


def test_beat_sends_one_heartbeat_to_each_queue(settings):
    from smscrm.celery import app

    sent = {  # (route() rewrites the options it is given: a copy, never the settings' own)
        entry["kwargs"]["queue"]: app.amqp.router.route(dict(entry["options"]), entry["task"])["queue"].name
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == worker_heartbeat.name
    }
    # The kwarg names the queue the task is sent to, for every queue a worker must consume.
    assert sent == {queue: queue for queue in ("dispatch", "imports", "default")}


@pytest.mark.django_db(transaction=True)  # the scheduler recycles connections, as a long-lived process must
def test_beat_scheduler_installs_the_code_schedule_and_beats(settings):
    from smscrm.beat import HeartbeatDatabaseScheduler
    from smscrm.celery import app

    scheduler = HeartbeatDatabaseScheduler(app=app)
    # The schedule is defined in settings and copied into django-celery-beat's tables.
    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(PeriodicTask.objects.values_list("name", flat=True))
    scheduler.tick()
    assert Heartbeat.objects.filter(component=BEAT).exists()


# ---- queues and send jobs (issue 20) ---------------------------------------------------------


def file_broker(settings, folder: Path) -> None:
    """make run's broker: no Redis, one file per waiting task in ``folder``."""
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(folder), "data_folder_out": str(folder)}


def test_queues_on_the_file_broker_count_each_queues_files_and_fail_past_the_limit(
    client, fresh_heartbeats, settings, tmp_path
):
    file_broker(settings, tmp_path)
    for name in ("1_a.dispatch.msg", "2_b.dispatch.msg", "3_c.imports.msg", "notes.txt", "4_d.dispatch.msg.tmp"):
        (tmp_path / name).write_bytes(b"{}")
    response = client.get("/health")
    assert response.status_code == 200
    queues = response.json()["checks"]["queues"]
    assert (queues["status"], queues["depth"], queues["limit"]) == (
        "ok",
        {"dispatch": 2, "imports": 1, "default": 0},
        10000,
    )

    settings.HEALTH_QUEUE_DEPTH_MAX = 1
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["queues"]
    assert response.json()["checks"]["queues"]["error"] == "tasks waiting: dispatch 2 (limit 1)"


def test_queues_on_a_broker_it_cannot_measure_say_so_and_pass(client, fresh_heartbeats, settings):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://"
    queues = client.get("/health").json()["checks"]["queues"]
    assert (queues["status"], queues["depth"], queues["note"]) == ("ok", {}, "depth not measured on this broker")


def test_queues_on_redis_are_the_lengths_of_the_broker_lists(client, fresh_heartbeats, settings, tmp_path):
    import redis

    from conftest import require_service
    from smscrm.testing.services import RedisServer

    require_service("redis-server", RedisServer.available(), "not installed")
    server = RedisServer(tmp_path).start()
    try:
        settings.REDIS_URL = server.url
        redis.Redis.from_url(server.url).rpush("imports", *["task"] * 3)
        settings.HEALTH_QUEUE_DEPTH_MAX = 3
        queues = client.get("/health").json()["checks"]["queues"]
        assert (queues["status"], queues["depth"]) == ("ok", {"dispatch": 0, "imports": 3, "default": 0})
        settings.HEALTH_QUEUE_DEPTH_MAX = 2
        assert client.get("/health").json()["checks"]["queues"]["error"] == "tasks waiting: imports 3 (limit 2)"
    finally:
        server.stop()


def due_job(campaign, seconds_ago: float, **fields) -> SendJob:
    return SendJob.objects.create(
        tenant=campaign.tenant,
        campaign=campaign,
        contact=ContactFactory(tenant=campaign.tenant, consent="express"),
        next_attempt_at=timezone.now() - timedelta(seconds=seconds_ago),
        **fields,
    )


def test_send_jobs_fail_when_the_oldest_due_job_has_waited_past_the_limit(client, fresh_heartbeats, settings):
    running = CampaignFactory(status=CampaignStatus.RUNNING)
    due_job(running, 100)
    due_job(running, -600)  # not due yet
    response = client.get("/health")
    assert response.status_code == 200
    jobs = response.json()["checks"]["send_jobs"]
    assert (jobs["status"], jobs["due"], jobs["limit"]) == ("ok", 1, 900)
    assert 100 <= jobs["oldest_due_seconds"] < 110

    due_job(running, 1000)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["send_jobs"]
    jobs = response.json()["checks"]["send_jobs"]
    assert jobs["due"] == 2
    assert re.fullmatch(r"the oldest of 2 due send jobs has waited 100\ds \(limit 900s\)", jobs["error"])


def test_send_jobs_waiting_on_a_person_are_not_due(client, fresh_heartbeats):
    """A paused campaign's, a paused tenant's, a scheduled campaign's and finished jobs wait on
    nobody's dispatcher: hours old, they do not fail /health."""
    due_job(CampaignFactory(status=CampaignStatus.PAUSED), 5000)
    due_job(CampaignFactory(status=CampaignStatus.SCHEDULED), 5000)
    due_job(CampaignFactory(status=CampaignStatus.RUNNING, tenant=TenantFactory(is_paused=True)), 5000)
    due_job(CampaignFactory(status=CampaignStatus.RUNNING), 5000, status=JobStatus.SENT)
    response = client.get("/health")
    assert response.status_code == 200
    jobs = response.json()["checks"]["send_jobs"]
    assert (jobs["status"], jobs["due"], jobs["oldest_due_seconds"]) == ("ok", 0, 0)


def test_the_body_names_the_short_domain_healthy_or_not(client, fresh_heartbeats, settings):
    settings.SHORT_DOMAIN = "go.example.com"
    assert client.get("/health").json()["short_domain"] == "go.example.com"
    Heartbeat.objects.filter(component=BEAT).delete()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["short_domain"] == "go.example.com"


def test_health_command_checks_queues_and_send_jobs_alone(fresh_heartbeats, settings, tmp_path):
    file_broker(settings, tmp_path)
    out = StringIO()
    call_command("health", "queues", "send_jobs", stdout=out)
    assert set(json.loads(out.getvalue())["checks"]) == {"queues", "send_jobs"}
