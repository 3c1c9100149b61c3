"""GET /health: 200 when every check passes, 503 naming the check that fails."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from smscrm.heartbeats import BEAT, WORKER, heartbeat_record
from smscrm.models import Heartbeat
from smscrm.tasks import worker_heartbeat

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_heartbeats():
    heartbeat_record(component=WORKER)
    heartbeat_record(component=BEAT)


def test_healthy_answers_200_without_login_or_tenant_data(client, fresh_heartbeats, tenant, settings):
    response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    expected = {"database", WORKER, BEAT} | ({"redis"} if settings.REDIS_URL else set())
    assert set(body["checks"]) == expected
    assert tenant.name not in response.content.decode() and tenant.slug not in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")


def test_stale_worker_heartbeat_fails_naming_the_worker(client, fresh_heartbeats, settings):
    Heartbeat.objects.filter(component=WORKER).update(
        beat_at=timezone.now() - timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS + 5)
    )
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == [WORKER]
    assert "heartbeat" in body["checks"][WORKER]["error"]


def test_missing_beat_heartbeat_fails(client):
    heartbeat_record(component=WORKER)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == [BEAT]


def test_unreachable_redis_fails_naming_redis(client, fresh_heartbeats, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"]["redis"]["status"] == "fail"


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


def test_liveness_checks_only_the_database(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database"}


def test_worker_heartbeat_task_records_the_worker():
    worker_heartbeat.delay()
    assert Heartbeat.objects.filter(component=WORKER).exists()


@pytest.mark.django_db(transaction=True)  # the scheduler recycles connections, as a long-lived process must
def test_beat_scheduler_installs_the_code_schedule_and_beats(settings):
    from smscrm.beat import HeartbeatDatabaseScheduler
    from smscrm.celery import app

    scheduler = HeartbeatDatabaseScheduler(app=app)
    # The schedule is defined in settings and copied into django-celery-beat's tables.
    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(PeriodicTask.objects.values_list("name", flat=True))
    scheduler.tick()
    assert Heartbeat.objects.filter(component=BEAT).exists()
