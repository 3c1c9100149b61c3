"""Concurrent hand-off across real worker processes (messaging.handoff), against the Twilio fake.

Each worker is ``manage.py dispatch --loop`` in its own process, on the test database, with the
test's Redis key prefix (so the rate limiter's and the permits' keys are the ones the autouse
fixture clears). What a provider account may have in flight is held across those processes by
Redis permits under a lease: the fake counts the requests it has in flight, so the cap is
measured on the provider's side, and its log tells whether any number got two messages.

A child process does not see time-machine: its contacts live in a zone where it is daytime now.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns import dispatch
from campaigns.models import Campaign, JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup
from conftest import require_service
from contacts.models import Contact
from contacts.tests.factories import mobile
from messaging import handoff_permits
from messaging.backends.twilio import TwilioBackend
from messaging.models import Message, MessageStatus, ProviderAccount
from messaging.quiet_hours import daytime_zone
from smscrm.testing.twilio_api import TwilioApiFake

pytestmark = pytest.mark.django_db(transaction=True)  # the workers must see the test's rows

ROOT = Path(__file__).resolve().parents[2]
#: A worker's start (Django, the twilio SDK) on a loaded 2-core machine, with others starting too.
START_SECONDS = 60


def services() -> redis.Redis:
    """PostgreSQL and Redis, or skip (fail on CI); the test's Redis client."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database")
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL: the permits are shared through Redis")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", False, f"{type(exc).__name__}: {exc}")
    return client


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(fake: TwilioApiFake, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_VERSION"}  # a plain process
    env.update(
        DJANGO_ENV="development",
        DEBUG="false",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        SMS_BACKEND="twilio",
        TWILIO_API_BASE_URL=fake.url,
        TWILIO_TIMEOUT_SECONDS="5",
        HANDOFF_LEASE_SECONDS="2",
    )
    env.update(overrides)
    return env


class Workers:
    """``manage.py dispatch --loop --idle-exit 2`` children; their output in files; all killed at the end."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, env: dict[str, str]) -> subprocess.Popen:
        with (self.directory / f"{name}.out").open("wb") as out, (self.directory / f"{name}.err").open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "dispatch", "--loop", "--idle-exit", "2"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )
        self.started.append((name, process))
        return process

    def name(self, process: subprocess.Popen) -> str:
        return next(name for name, started in self.started if started is process)

    def output(self, process: subprocess.Popen) -> tuple[str, str]:
        name = self.name(process)
        return (self.directory / f"{name}.out").read_text(), (self.directory / f"{name}.err").read_text()

    def report(self) -> str:
        lines = []
        for name, process in self.started:
            out, err = self.output(process)
            lines.append(f"--- {name} (pid {process.pid}, exit {process.poll()})\n{out}\n{err[-3000:]}")
        return "\n".join(lines)

    def wait(self, processes: list[subprocess.Popen], *, seconds: float) -> list[dict]:
        """Wait for these to exit; each must exit 0 and say what it did (its last stdout line)."""
        deadline = time.monotonic() + seconds
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"a worker did not finish in {seconds} s\n{self.report()}") from None
        assert all(process.returncode == 0 for process in processes), self.report()
        return [json.loads(self.output(process)[0].strip().splitlines()[-1]) for process in processes]

    def kill_all(self) -> None:
        for _, process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def api():
    """The fake Messages API: it does not refuse anything for concurrency (we measure our cap)."""
    fake = TwilioApiFake(latency=0.1, concurrency=1000, seed=11).start()
    try:
        yield fake
    finally:
        fake.stop()  # cuts hung requests short


@pytest.fixture
def workers(tmp_path, api):
    """Child workers, killed (if still running) before the fake stops and the database is flushed."""
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


def wait_for(condition, *, seconds: float, what: str, workers: Workers, alive: list[subprocess.Popen]):
    """Poll ``condition`` until it is true (returned); fail at the deadline, or at once if a worker died."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if any(process.poll() is not None for process in alive):
            raise AssertionError(f"a worker exited while waiting for {what}\n{workers.report()}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}\n{workers.report()}")
        time.sleep(0.005)


def capped(tenant, cap: int) -> ProviderAccount:
    """One sender on one account that may have ``cap`` requests in flight; rates no obstacle."""
    account = sending_setup(tenant, mps=10_000, curve=(1_000_000,))[0].account
    account.max_concurrent_requests = cap
    account.save(update_fields=["max_concurrent_requests"])
    return account


def daytime_contacts(tenant, n: int) -> list[Contact]:
    """Consenting contacts where it is daytime now (for the children, on the real clock), in bulk."""
    zone, now = daytime_zone(timezone.now()), timezone.now()
    Contact.objects.bulk_create(
        [
            Contact(
                tenant=tenant,
                phone_e164=mobile(i, 413),
                first_name=f"P{i}",
                timezone=zone,
                consent_status="express",
                consent_at=now,
            )
            for i in range(n)
        ]
    )
    return list(Contact.objects.filter(tenant=tenant).order_by("id"))


def waiting_for(model) -> int:
    """How many sessions wait for a lock on the model's table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            [model._meta.db_table],
        )
        return cursor.fetchone()[0]


def statuses(campaign) -> dict[str, int]:
    return dict(SendJob.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("id")))


def test_the_accounts_cap_holds_across_three_worker_processes(tenant, api, workers):
    services()
    account = capped(tenant, 5)
    campaign = launched(tenant, contacts=daytime_contacts(tenant, 150))
    # Small batches, so that the three workers share the campaign and contend for the 5 permits.
    env = worker_env(api, DISPATCH_BATCH_SIZE="10")

    # A barrier: the campaigns table is locked until all three are up and waiting on it (a
    # worker's start takes seconds on a loaded machine; the campaign goes out in about three).
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Campaign._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        started = [workers.start(f"worker{n}", env) for n in range(3)]
        wait_for(
            lambda: waiting_for(Campaign) == 3,
            seconds=START_SECONDS,
            what="three workers up",
            workers=workers,
            alive=started,
        )
    reports = workers.wait(started, seconds=60)

    fake = api.stats()
    assert fake["max_in_flight"] == {account.account_sid: 5}  # concurrent, and never past the cap
    assert fake["created"] == fake["requests"] == 150 and fake["rejected_429"] == 0
    assert fake["duplicate_to"] == 0
    assert statuses(campaign) == {JobStatus.SENT: 150}
    assert sum(report["sent"] for report in reports) == 150
    # The cap was shared, not held by one worker alone: each handed over part of the campaign.
    assert all(report["sent"] > 0 for report in reports), reports
    sids = set(
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).values_list("provider_id", flat=True)
    )
    assert sids == {row["sid"] for row in api.log()}


def test_a_worker_killed_with_calls_in_flight_gives_its_permits_back_and_nothing_goes_twice(tenant, api, workers):
    client = services()
    account = capped(tenant, 50)
    sid = account.account_sid
    campaign = launched(tenant, contacts=daytime_contacts(tenant, 200))
    holders_key = f"{handoff_permits.permits_key_prefix()}{sid}:holders"
    leases_key = f"{handoff_permits.permits_key_prefix()}{sid}:leases"
    # Twilio takes each message as it arrives and never answers: the calls hang in flight, and
    # every one of them was received (the worst case for a resend).
    api.configure(latency=0.0, timeout_share=1.0, hang_seconds=120)
    hanging = worker_env(api, TWILIO_TIMEOUT_SECONDS="60", DISPATCH_BATCH_SIZE="50")

    first = workers.start("first", hanging)
    wait_for(
        lambda: api.stats()["in_flight"].get(sid) == 50,
        seconds=START_SECONDS,
        what="the first worker's 50 calls in flight",
        workers=workers,
        alive=[first],
    )
    # A second worker decides a batch of its own and waits for permits: the first holds all 50
    # (its second batch waits too). 150 jobs sending, 50 pending.
    second = workers.start("second", worker_env(api, DISPATCH_BATCH_SIZE="50"))
    wait_for(
        lambda: statuses(campaign) == {JobStatus.SENDING: 150, JobStatus.PENDING: 50},
        seconds=START_SECONDS,
        what="both workers' batches decided",
        workers=workers,
        alive=[first, second],
    )
    assert api.stats()["max_in_flight"] == {sid: 50}  # the second worker started nothing meanwhile

    first.kill()
    first.wait()
    killed_at = time.time()
    api.configure(timeout_share=0.0, latency=0.3)  # Twilio answers again, each call 0.3 s in flight
    holders = {token.decode(): int(n) for token, n in client.hgetall(holders_key).items()}
    (dead,) = holders
    assert f":{first.pid}:" in dead and holders[dead] == 50, holders  # the dead worker's, still held
    lease_ends = client.zscore(leases_key, dead)
    assert killed_at < lease_ends <= killed_at + 2.0  # the second worker must wait for it
    hung = api.log()
    assert len(hung) == 50  # the dead worker's calls: each received once, never answered
    wait_for(
        lambda: not api.stats()["in_flight"],
        seconds=10,
        what="the fake to drop the dead worker's connections",
        workers=workers,
        alive=[second],
    )

    # Once the lease lapses, the dead worker's permits come back: the second worker has 50 in flight.
    wait_for(
        lambda: api.stats()["in_flight"].get(sid) == 50,
        seconds=20,
        what="the second worker's 50 calls in flight",
        workers=workers,
        alive=[second],
    )
    (report,) = workers.wait([second], seconds=60)
    assert report["sent"] == 100  # its own batch, then the last 50 pending
    holders = {token.decode() for token in client.hkeys(holders_key)}
    assert not any(f":{first.pid}:" in token for token in holders), holders

    fake = api.stats()
    log = api.log()
    later = [row for row in log if row["created_at"] > killed_at]
    assert len(later) == 100 and log[:50] == hung
    assert min(row["created_at"] for row in later) >= lease_ends  # nothing started on the dead permits early
    assert fake["max_in_flight"] == {sid: 50}
    assert fake["requests"] == fake["created"] == 150 and fake["duplicate_to"] == 0

    # The dead worker left 100 jobs sending: 50 whose calls hung, 50 its second batch never started.
    assert statuses(campaign) == {JobStatus.SENT: 100, JobStatus.SENDING: 100}
    counts = dispatch.reconcile_sending(backend=TwilioBackend(), older_than=dt.timedelta(0))
    # Twilio cannot be asked by our reference: each is unknown, for a person to settle, never resent.
    assert counts == {"found": 0, "requeued": 0, "unknown": 100}
    assert statuses(campaign) == {JobStatus.SENT: 100, JobStatus.UNKNOWN: 100}

    jobs = SendJob.objects.filter(campaign=campaign).select_related("contact", "message")
    unknown = {job.contact.phone_e164 for job in jobs if job.status == JobStatus.UNKNOWN}
    sent = {job.contact.phone_e164 for job in jobs if job.status == JobStatus.SENT}
    assert {row["to"] for row in hung} < unknown  # received, yet unknown to us: never handed over again
    assert not (unknown - {row["to"] for row in hung}) & {row["to"] for row in log}  # never reached Twilio
    assert sent == {row["to"] for row in later}
    assert {job.message.provider_id for job in jobs if job.status == JobStatus.SENT} == {row["sid"] for row in later}
    assert {job.message.status for job in jobs if job.status == JobStatus.UNKNOWN} == {MessageStatus.UNKNOWN}
