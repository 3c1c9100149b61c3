"""The dispatcher under real concurrency, on PostgreSQL: workers racing for budget, a pause
landing mid-batch, and a worker process killed with SIGKILL mid-batch.

These need PostgreSQL's row locks and SKIP LOCKED (SQLite serialises everything), so they
skip (or, in CI, fail) without it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.utils import timezone

from campaigns import dispatch
from campaigns.dispatch import chunks
from campaigns.models import GateOutcome, JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup
from conftest import require_service
from contacts.models import Contact
from contacts.tests.factories import mobile
from messaging.backends import locmem
from messaging.backends.base import get_backend
from messaging.backends.locmem import LocmemBackend
from messaging.models import Message, MessageStatus, Spend
from smscrm.testing.locks import backend_pid, blocked_on_a_lock
from tenants import services as tenant_services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Skipped before any fixture touches the database; CI runs on PostgreSQL, and there a
    # missing service fails (require_postgresql) instead of skipping.
    pytest.mark.skipif(
        connection.vendor != "postgresql" and os.environ.get("SMSCRM_REQUIRE_SERVICES") != "1",
        reason="PostgreSQL unavailable: needs its row locks and SKIP LOCKED",
    ),
]
ROOT = Path(__file__).resolve().parents[2]


def require_postgresql():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database")


def quick_contacts(tenant, n, *, block=412):
    """Consenting contacts in Sydney, made in bulk (factories would take longer than the test)."""
    now = timezone.now()
    Contact.objects.bulk_create(
        [
            Contact(
                tenant=tenant,
                phone_e164=mobile(i, block),
                first_name=f"P{i}",
                timezone="Australia/Sydney",
                consent_status="express",
                consent_at=now,
            )
            for i in range(n)
        ]
    )
    return list(Contact.objects.filter(tenant=tenant).order_by("id"))


def in_threads(n: int, target) -> list:
    results, errors = [None] * n, []

    def run(i):
        try:
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def daytime():
    # 14:00 in Sydney: inside the window everywhere in Australia. Moved by hand, not patched
    # per thread: time-machine travels every thread of the process.
    import time_machine

    return time_machine.travel(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=True)


def test_four_workers_never_exceed_the_budget_by_a_cent(tenant):
    require_postgresql()
    locmem.reset()
    with daytime():
        sending_setup(tenant, price=7)
        tenant.daily_budget_cents = 1_000  # 142 messages of 7¢ fit (994¢), not 143
        tenant.save(update_fields=["daily_budget_cents"])
        contacts = quick_contacts(tenant, 400)
        campaign = launched(tenant, contacts=contacts)
        in_threads(4, lambda i: dispatch.dispatch(backend=LocmemBackend(), batch_size=20, max_seconds=60).sent)
    spent = Spend.objects.get(tenant=tenant, period="day").cents
    sent = campaign.jobs.filter(status=JobStatus.SENT).count()
    assert spent == sent * 7 == 994
    assert len(locmem.outbox) == 142 == len({sms.to for sms in locmem.outbox})
    assert campaign.jobs.filter(status=JobStatus.PENDING, gate="budget").count() == 400 - 142
    locmem.reset()


class PausingBackend(LocmemBackend):
    """Pauses the tenant from another connection while its first hand-off is in flight."""

    def __init__(self, tenant):
        self.tenant, self.starts, self.pauser, self.paused_at = tenant, [], None, None

    def send(self, messages):
        self.starts.append(time.time())
        if len(self.starts) == 1:
            connected, pid = threading.Event(), []

            def pause():
                pid.append(backend_pid())
                connected.set()
                tenant_services.tenant_set_paused(tenant=self.tenant, actor=None, paused=True)
                self.paused_at = time.time()  # the pause has committed by now
                connections.close_all()

            self.pauser = threading.Thread(target=pause)
            self.pauser.start()
            assert connected.wait(10)
            # The pause's connection waits on the chunk's share lock (polled, with a deadline).
            assert blocked_on_a_lock(pid[0]), "the pause must wait for the hand-off in flight"
            assert self.pauser.is_alive() and self.paused_at is None
        return super().send(messages)


def test_kill_switch_stops_a_running_campaign_within_one_batch(tenant, monkeypatch):
    require_postgresql()
    monkeypatch.setattr(chunks, "HANDOFF_CHUNK", 100)  # several chunks in one batch
    locmem.reset()
    with daytime():
        sending_setup(tenant)
        contacts = quick_contacts(tenant, 450)
        campaign = launched(tenant, contacts=contacts)
        backend = PausingBackend(tenant)
        stats = dispatch.process_batch(campaign_id=campaign.pk, backend=backend, batch_size=450)
        backend.pauser.join(timeout=10)
    # The pause waited for the chunk in flight, and only for it: PostgreSQL grants the queued
    # pause its lock as the chunk's transaction releases it, before the next chunk can ask, so
    # the next chunk waits for the pause, reads it and holds. No provider call started after
    # the pause committed, and the rest of the batch is held.
    assert backend.paused_at is not None and max(backend.starts) < backend.paused_at
    assert stats.sent == len(locmem.outbox) == chunks.HANDOFF_CHUNK
    held = campaign.jobs.filter(status=JobStatus.PENDING)
    assert held.count() == 450 - stats.sent
    assert set(held.values_list("gate", "outcome").distinct()) == {("kill_switch", GateOutcome.HOLD)}
    assert Spend.objects.get(tenant=tenant, period="day").cents == stats.sent * 5
    assert not Message.objects.filter(status=MessageStatus.SENDING).exists()
    assert dispatch.dispatch().claimed == 0  # still paused
    locmem.reset()


def test_a_worker_killed_mid_batch_sends_nothing_twice_and_loses_no_job(tenant, tmp_path, settings):
    require_postgresql()
    log = tmp_path / "simulator.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SMS_BACKEND": "simulator",
        "SMS_SIMULATOR_CALLBACKS": "off",
        "SMS_SIMULATOR_LOG": str(log),
        "DISPATCH_BATCH_SIZE": "100",
        "DJANGO_ENV": "development",
    }
    env.pop("PYTEST_VERSION", None)  # the worker is a plain process, not a test
    with daytime():
        sending_setup(tenant, mps=1000)
        tenant.messages_per_second = 40  # ~300 messages take ~8 s: plenty of time to kill it mid-way
        tenant.save(update_fields=["messages_per_second"])
        contacts = quick_contacts(tenant, 300)
        campaign = launched(tenant, contacts=contacts)
    # The worker process runs on the real clock: make the jobs due and the window open for it.
    SendJob.objects.filter(campaign=campaign).update(next_attempt_at=timezone.now() - dt.timedelta(minutes=1))
    tenant.quiet_hours_end, tenant.quiet_hours_start = 9, 21
    tenant.save()
    _open_window_now(tenant)

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "dispatch", "--loop", "--idle-exit", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _accepted(log) < 60:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = _accepted(log)
    assert 0 < killed_at < 300, "the worker must die mid-campaign"
    assert SendJob.objects.filter(campaign=campaign, status=JobStatus.SENDING).exists()

    # Restart: the reconciler settles what the dead worker left, then a new worker finishes.
    settings.SMS_SIMULATOR_LOG = log
    dispatch.reconcile_sending(backend=get_backend("simulator"), older_than=dt.timedelta(0))
    restarted = subprocess.run(
        [sys.executable, "manage.py", "dispatch", "--loop", "--idle-exit", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr
    json.loads(restarted.stdout.strip().splitlines()[-1])

    references = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(references) == len(set(references)) == 300  # every job handed over exactly once
    statuses = dict(campaign.jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    assert statuses == {JobStatus.SENT: 300}
    live = Message.objects.filter(tenant=tenant).exclude(status=MessageStatus.REJECTED)
    assert live.count() == 300 == live.values("contact_id").distinct().count()


def _accepted(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _open_window_now(tenant):
    """Pick a tenant zone where it is now mid-afternoon, so quiet hours let everything through."""
    import zoneinfo

    for name in sorted(zoneinfo.available_timezones()):
        if name.startswith(("Etc/", "SystemV", "posix", "right")):
            continue
        if 12 <= timezone.now().astimezone(zoneinfo.ZoneInfo(name)).hour < 17:
            tenant.timezone = name
            tenant.save(update_fields=["timezone"])
            Contact.objects.filter(tenant=tenant).update(timezone=name)
            return
    raise AssertionError("no zone in the afternoon?")
