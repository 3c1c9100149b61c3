"""Concurrent hand-off through the Twilio backend (messaging.handoff), against a fake with real limits.

The fake (smscrm.testing.twilio_api) answers after a latency, refuses past its concurrency cap
with 429/20429, can fail with 5xx and can take a message and never answer; it counts what it
received, so duplicates are counted by the provider's own log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time

import pytest
from django.db import connection, connections, transaction

from campaigns import dispatch
from campaigns.dispatch import batch, flights
from campaigns.dispatch import chunks as dispatch_chunks
from campaigns.models import Gate, JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from conftest import require_service
from contacts import services as contact_services
from contacts.models import DncReason
from messaging import handoff, handoff_permits
from messaging.backends.twilio import TwilioBackend
from messaging.models import Message, MessageStatus, ProviderAccount
from smscrm.testing.twilio_api import TwilioApiFake
from tenants import services as tenants_services


@pytest.fixture
def api(settings):
    """The fake Messages API, with TWILIO_API_BASE_URL pointed at it and short client timeouts."""
    with TwilioApiFake(latency=0.02, concurrency=100, seed=7) as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        settings.TWILIO_TIMEOUT_SECONDS = 1.0
        settings.HANDOFF_LEASE_SECONDS = 5.0
        yield fake
    handoff.engines_close()


def capped(tenant, cap: int) -> ProviderAccount:
    numbers = sending_setup(tenant, mps=10_000, curve=(1_000_000,))
    account = numbers[0].account
    account.max_concurrent_requests = cap
    account.save(update_fields=["max_concurrent_requests"])
    return account


@pytest.mark.django_db(transaction=True)
def test_a_campaign_goes_out_concurrently_once_each_within_the_accounts_cap(tenant, api, clock):
    capped(tenant, 8)
    contacts = sydney_contacts(tenant, 120)
    campaign = launched(tenant, contacts=contacts)

    stats = dispatch.dispatch(backend=TwilioBackend())

    fake = api.stats()
    assert stats.sent == 120
    assert fake["created"] == 120 and fake["duplicate_to"] == 0
    assert max(fake["max_in_flight"].values()) == 8  # concurrent, and never past the cap
    assert set(SendJob.objects.filter(campaign=campaign).values_list("status", flat=True)) == {JobStatus.SENT}
    sids = set(
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).values_list("provider_id", flat=True)
    )
    assert sids == {row["sid"] for row in api.log()}
    if connection.vendor == "postgresql":  # every number held for its call has been let go
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            assert cursor.fetchone()[0] == 0


def api_wait(predicate, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def in_thread(target):
    """Run ``target`` in a thread with its own database connection, closed at the end."""
    outcome = {}

    def run():
        try:
            outcome["value"] = target()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
def test_a_timeout_after_the_request_left_ends_unknown_and_is_never_sent_again(tenant, api, clock, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    api.configure(timeout_share=1.0, hang_seconds=3.0)
    capped(tenant, 10)
    contacts = sydney_contacts(tenant, 4)
    campaign = launched(tenant, contacts=contacts)

    stats = dispatch.dispatch(backend=TwilioBackend())

    assert stats.sent == 0 and stats.outcomes.get("unknown") == 4
    assert set(SendJob.objects.filter(campaign=campaign).values_list("status", flat=True)) == {JobStatus.UNKNOWN}
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {MessageStatus.UNKNOWN}
    api.configure(timeout_share=0.0)
    dispatch.dispatch(backend=TwilioBackend())
    dispatch.reconcile_sending(backend=TwilioBackend(), older_than=dt.timedelta(0))
    fake = api.stats()
    assert fake["requests"] == 4 and fake["created"] == 4  # taken once each, never asked again
    assert set(SendJob.objects.filter(campaign=campaign).values_list("status", flat=True)) == {JobStatus.UNKNOWN}


@pytest.mark.django_db(transaction=True)
def test_a_429_storm_brings_the_cap_down_and_it_creeps_back(tenant, api, clock, settings):
    settings.HANDOFF_RATE_LIMIT_RETRIES = 50  # every refused message is tried again in the run
    account = capped(tenant, 20)
    api.configure(latency=0.03, concurrency=6)  # the provider allows 6, we believe 20
    first = launched(tenant, contacts=sydney_contacts(tenant, 150))
    backend = TwilioBackend()

    dispatch.dispatch(backend=backend)

    stormed = api.stats()
    assert stormed["created"] == 150 and stormed["duplicate_to"] == 0
    assert stormed["rejected_429"] > 0
    assert set(SendJob.objects.filter(campaign=first).values_list("status", flat=True)) == {JobStatus.SENT}
    cut = handoff.engine_for(backend).accounts[account.account_sid].eff
    assert cut < 10, f"the cap stayed at {cut} under a storm of 429s"
    # Most of the storm is the first moment: the refusals stop once the cap has come down.
    assert stormed["rejected_429"] < stormed["created"]

    api.reset()
    api.configure(concurrency=100)  # the other user of the account went away
    second = launched(tenant, contacts=sydney_contacts(tenant, 400, tags=["later"]), tags=["later"])
    dispatch.dispatch(backend=backend)

    recovered = api.stats()
    assert recovered["created"] == 400 and recovered["rejected_429"] == 0
    assert set(SendJob.objects.filter(campaign=second).values_list("status", flat=True)) == {JobStatus.SENT}
    grown = handoff.engine_for(backend).accounts[account.account_sid].eff
    assert grown > cut + 3, f"the cap did not creep back ({cut} → {grown})"
    assert max(recovered["max_in_flight"].values()) > math.floor(cut)


@pytest.mark.django_db(transaction=True)
def test_no_call_starts_after_a_pause_commits_and_calls_in_flight_finish(tenant, api, clock):
    # The pause waits for the chunk under the kill switch's advisory lock (tenants.killswitch); on
    # SQLite there is none and a chunk that read "running" just before the pause still goes.
    require_service("PostgreSQL", connection.vendor == "postgresql", "advisory locks are PostgreSQL's")
    capped(tenant, 3)
    api.configure(latency=0.3)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 24))
    thread, outcome = in_thread(lambda: dispatch.dispatch(backend=TwilioBackend(), batch_size=12))
    api_wait(lambda: api.stats()["requests"] >= 1, seconds=10, what="the first call")

    tenants_services.tenant_set_paused(tenant=tenant, actor=None, paused=True)  # waits for the chunk
    paused_at = time.time()
    thread.join(20)

    assert "error" not in outcome, outcome.get("error")
    arrivals = [row["arrived_at"] for row in api.log()]
    assert len(arrivals) == 12  # the chunk under way: every call of it had started
    assert max(arrivals) <= paused_at
    jobs = SendJob.objects.filter(campaign=campaign)
    assert jobs.filter(status=JobStatus.SENT).count() == 12
    held = jobs.filter(status=JobStatus.PENDING)
    assert held.count() == 12 and set(held.values_list("gate", flat=True)) <= {"", Gate.KILL_SWITCH}


@pytest.mark.django_db(transaction=True)
def test_a_stop_committed_during_a_chunk_waits_for_that_numbers_call_and_later_calls_see_it(tenant, api, clock):
    require_service("PostgreSQL", connection.vendor == "postgresql", "advisory locks are PostgreSQL's")
    capped(tenant, 1)  # one call at a time: the last number's call starts ~1 s after the first
    api.configure(latency=0.25)
    contacts = sydney_contacts(tenant, 4)
    campaign = launched(tenant, contacts=contacts)
    quitter = contacts[-1]
    thread, outcome = in_thread(lambda: dispatch.dispatch(backend=TwilioBackend()))
    api_wait(lambda: api.stats()["requests"] >= 1, seconds=10, what="the first call")

    contact_services.dnc_add(tenant=tenant, phone=quitter.phone_e164, reason=DncReason.STOP_KEYWORD, source="test")
    committed_at = time.time()
    thread.join(20)

    assert "error" not in outcome, outcome.get("error")
    to_quitter = [row for row in api.log() if row["to"] == quitter.phone_e164]
    # Its call was held from before the STOP: it went, and the STOP committed only once it had.
    assert len(to_quitter) == 1 and to_quitter[0]["created_at"] <= committed_at  # answered, then the STOP
    # A campaign decided now never reaches the number.
    quitter.tags = ["again"]
    quitter.save(update_fields=["tags"])
    later = launched(tenant, contacts=[quitter], tags=["again"])
    dispatch.dispatch(backend=TwilioBackend())
    assert len([row for row in api.log() if row["to"] == quitter.phone_e164]) == 1
    assert SendJob.objects.get(campaign=later).gate == Gate.DNC
    assert SendJob.objects.filter(campaign=campaign, status=JobStatus.SENT).count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_stop_between_decision_and_hand_off_keeps_that_message_back(tenant, api, clock, monkeypatch):
    capped(tenant, 10)
    contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts)
    quitter = contacts[1]
    real_hand_off = batch.hand_off

    def stop_arrives_first(**kwargs):
        contact_services.dnc_add(tenant=tenant, phone=quitter.phone_e164, reason=DncReason.STOP_KEYWORD, source="t")
        return real_hand_off(**kwargs)

    monkeypatch.setattr(batch, "hand_off", stop_arrives_first)
    stats = dispatch.dispatch(backend=TwilioBackend())

    assert stats.sent == 2
    assert quitter.phone_e164 not in {row["to"] for row in api.log()}
    job = SendJob.objects.get(campaign=campaign, contact=quitter)
    assert (job.status, job.gate) == (JobStatus.SKIPPED, Gate.DNC)


@pytest.mark.django_db(transaction=True)
def test_rate_limit_slots_and_warmup_caps_hold_with_many_calls_in_flight(tenant, api, clock):
    numbers = sending_setup(tenant, mps=20, curve=(30,))
    account = numbers[0].account
    account.max_concurrent_requests = 50
    account.save(update_fields=["max_concurrent_requests"])
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 45))

    dispatch.dispatch(backend=TwilioBackend(), max_seconds=10)

    arrivals = sorted(row["arrived_at"] for row in api.log())
    assert len(arrivals) == 30  # the sender's warmup cap for today
    assert SendJob.objects.filter(campaign=campaign, status=JobStatus.PENDING, gate=Gate.WARMUP).count() == 15
    # 20 a second: no window of a second holds more than 20 + 1 (GCRA's bound), however many in flight.
    for start in arrivals:
        assert sum(1 for at in arrivals if start <= at < start + 1.0) <= 21
    assert arrivals[-1] - arrivals[0] >= 29 / 20 - 0.1


@pytest.mark.django_db(transaction=True)
def test_a_pause_is_not_starved_by_chunks_that_overlap_without_end(tenant):
    """Several workers whose chunks overlap all the time: a pause still commits within a chunk or two.

    With share row locks on the tenant's row (the first design), every new chunk joined the
    ones holding it and the pause's UPDATE waited for minutes under bench/handoff's 8 workers.
    """
    require_service("PostgreSQL", connection.vendor == "postgresql", "the lock queue is PostgreSQL's")
    capped(tenant, 10)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 1))
    stop = threading.Event()
    seen_paused = []
    holding = [threading.Event() for _ in range(4)]

    def chunks(n: int) -> None:
        time.sleep(n * 0.05)  # staggered, so that some chunk always holds the lock
        while not stop.is_set():
            with transaction.atomic():
                running = dispatch_chunks._share_lock_running(campaign)
                holding[n].set()
                time.sleep(0.15)  # a chunk's calls starting
            if not running:
                seen_paused.append(time.monotonic())
                return

    threads = [in_thread(lambda n=n: chunks(n))[0] for n in range(4)]
    # Every worker has taken the lock at least once: the chunks overlap from here on.
    assert all(event.wait(5) for event in holding)
    started = time.monotonic()
    tenants_services.tenant_set_paused(tenant=tenant, actor=None, paused=True)
    waited = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(5)

    assert waited < 1.0, f"the pause waited {waited:.1f} s"
    assert len(seen_paused) == 4  # every worker's next chunk saw it


def test_the_web_process_never_sends():
    """No view, URLconf, form or middleware module reaches the dispatcher or a provider backend."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    web_modules = [
        path
        for path in root.glob("*/*.py")
        if path.name.endswith(("views.py", "urls.py"))  # pilot_views.py, template_views.py too
        or path.name in {"forms.py", "middleware.py", "api.py", "serializers.py"}
    ]
    assert len(web_modules) > 10
    senders = ("campaigns.dispatch", "messaging.handoff", "messaging.backends")
    offending = []
    for path in web_modules:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offending += [f"{path.relative_to(root)}: {name}" for name in names if name.startswith(senders)]
    assert not offending


@pytest.mark.django_db(transaction=True)
def test_calls_that_found_no_room_before_their_chunk_closed_go_back_to_the_queue_untouched(
    tenant, api, clock, settings, monkeypatch
):
    """Another worker holds every permit: the chunk closes, its calls never start, nothing lingers."""
    require_service("Redis", bool(settings.REDIS_URL), "permits across processes live in Redis")
    require_service("PostgreSQL", connection.vendor == "postgresql", "holds are PostgreSQL's")
    account = capped(tenant, 2)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 3))
    other = handoff_permits.RedisPermits(
        settings.REDIS_URL, prefix=handoff_permits.permits_key_prefix(), token="another-worker", lease=30
    )
    granted = asyncio.run(other.exchange(account.account_sid, 2, handoff_permits.Exchange(want=2)))[0]
    assert granted == 2  # the account is full
    monkeypatch.setattr(flights, "START_WITHIN", 0.5)
    backend = TwilioBackend()

    dispatch.dispatch(backend=backend, max_seconds=2)

    assert api.stats()["requests"] == 0
    jobs = SendJob.objects.filter(campaign=campaign)
    assert set(jobs.values_list("status", flat=True)) == {JobStatus.PENDING}
    assert set(jobs.values_list("attempts", flat=True)) == {0}  # it never reached the provider
    engine_account = handoff.engine_for(backend).accounts[account.account_sid]
    assert not [w for w in engine_account.waiters if not w.done()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0  # every number and the tenant let go


@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_database_session_died_starts_nothing_more(tenant, api, clock):
    """Its holds (kill switch, numbers) went with the session: the chunk closes at once."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "PostgreSQL sessions")
    capped(tenant, 1)
    api.configure(latency=1.0)  # the next call would start when this one answers, a second on
    launched(tenant, contacts=sydney_contacts(tenant, 8))
    thread, outcome = in_thread(lambda: dispatch.dispatch(backend=TwilioBackend(), max_seconds=5))
    api_wait(lambda: api.stats()["requests"] >= 1, seconds=10, what="the first call")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    killed_at = time.time()
    thread.join(20)

    assert isinstance(outcome.get("error"), Exception)  # the run failed, as it should
    # Calls that did start are created a latency later: let them all land before looking.
    api_wait(lambda: not api.stats()["in_flight"], seconds=5, what="the calls in flight to land")
    late = [row for row in api.log() if row["arrived_at"] > killed_at + 0.15]
    assert not late, f"{len(late)} calls started after the session died"
    assert api.stats()["requests"] < 8
