"""The global send rate limiter (messaging.ratelimit): GCRA semantics on every store, the Lua
script against the Python reference, and the global bound under real concurrency.

The semantic tests run three times: on the Python reference (``plan``), on the database store
and on the Redis store (skipped, or failed in CI, without REDIS_URL). Every test's keys carry a
random token and every Redis test has a key prefix of its own, so test runs sharing one Redis
(each of whose tests starts with ratelimit.reset()) never touch each other's keys.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from conftest import require_service
from messaging import ratelimit
from messaging.models import RateLimitState
from messaging.ratelimit import Slot, reserve_slots

NOW = 1_700_000_000.0  # an explicit clock for the semantic tests (Nov 2023, so real-size floats)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_store(monkeypatch):
    """The Redis store under a key prefix of this test's own: another test run sharing this Redis
    (whose every test starts with ratelimit.reset()) must not wipe our keys mid-test."""
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL to test the Redis store")
    cache = settings.CACHES["default"]
    monkeypatch.setitem(cache, "KEY_PREFIX", f"{cache['KEY_PREFIX']}-{uuid.uuid4().hex[:10]}")
    # Keys left behind expire on their own (IDLE_TTL after their last slot).
    return ratelimit._reserve_redis


def require_postgresql():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database")


def tokened(token, requests, rates):
    return (
        [tuple(f"{token}:{key}" for key in keys) for keys in requests],
        {f"{token}:{key}": rate for key, rate in rates.items()},
    )


@pytest.fixture(params=["python", "database", "redis"])
def reserve(request):
    """reserve(requests, rates, now=NOW, horizon=1.0) on one store, with this test's own keys."""
    if request.param == "python":
        tats: dict[str, float] = {}

        def store(requests, rates, *, now, horizon):
            return ratelimit.plan(requests, rates, tats, now, horizon)

    elif request.param == "database":
        request.getfixturevalue("db")
        store = ratelimit._reserve_db
    else:
        store = request.getfixturevalue("redis_store")
    token = uuid.uuid4().hex[:10]

    def reserve(requests, rates, *, now=NOW, horizon=1.0):
        return store(*tokened(token, requests, rates), now=now, horizon=horizon)

    return reserve


def granted_at(slots):
    return [slot.at for slot in slots if slot.granted]


def max_in_window(times, width=1.0):
    """The most times in any closed window [t, t + width]."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] <= start + width:
            j += 1
        best = max(best, j - i)
    return best


# Semantics, on every store.


def test_one_key_grants_rate_plus_one_within_an_inclusive_horizon(reserve):
    slots = reserve([("tenant:1",)] * 25, {"tenant:1": 10.0})

    assert [slot.granted for slot in slots] == [True] * 11 + [False] * 14
    # now, now + 0.1, ..., now + 1.0: the slot right on the horizon is granted.
    assert granted_at(slots) == pytest.approx([NOW + i / 10 for i in range(11)], abs=1e-5)
    # Nothing was reserved for the rest, so they all report the same retry time: the 12th
    # slot (now + 1.1) minus the horizon.
    assert [slot.at for slot in slots[11:]] == pytest.approx([NOW + 0.1] * 14, abs=1e-5)


def test_granted_slots_are_spaced_one_over_the_rate(reserve):
    slots = reserve([("sender:1",)] * 30, {"sender:1": 20.0}, horizon=1.0)

    times = granted_at(slots)
    assert len(times) == 21
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == pytest.approx([0.05] * 20, abs=1e-5)


def test_the_slowest_key_of_a_message_sets_the_pace(reserve):
    rates = {"tenant:1": 50.0, "sender:1": 10.0}
    slots = reserve([("tenant:1", "sender:1")] * 25, rates)

    assert granted_at(slots) == pytest.approx([NOW + i / 10 for i in range(11)], abs=1e-5)


def test_different_senders_share_their_tenants_rate(reserve):
    rates = {"tenant:1": 50.0} | {f"sender:{s}": 20.0 for s in range(5)}
    slots = reserve([("tenant:1", f"sender:{i % 5}") for i in range(100)], rates)

    # Five senders could pass 100/s together; the tenant lets 50/s through (51 within 1 s).
    times = granted_at(slots)
    assert times == pytest.approx([NOW + i / 50 for i in range(51)], abs=1e-5)
    assert [slot.granted for slot in slots] == [True] * 51 + [False] * 49


def test_an_ungranted_message_reports_when_asking_again_will_succeed(reserve):
    rates = {"tenant:1": 10.0}
    first = reserve([("tenant:1",)] * 12, rates)
    assert not first[11].granted
    retry = first[11].at
    assert retry == pytest.approx(NOW + 0.1, abs=1e-5)

    assert not reserve([("tenant:1",)], rates, now=retry - 0.01)[0].granted
    again = reserve([("tenant:1",)], rates, now=retry)[0]
    assert again == Slot(True, again.at)
    assert again.at == pytest.approx(retry + 1.0, abs=1e-5)  # exactly the slot it was refused


def test_only_granted_messages_advance_their_keys(reserve):
    rates = {"tenant:1": 50.0, "sender:slow": 1.0, "sender:fast": 50.0}
    slots = reserve(
        [("tenant:1", "sender:slow"), ("tenant:1", "sender:slow"), ("tenant:1", "sender:fast")], rates, horizon=0.5
    )

    assert slots[0] == Slot(True, NOW)
    assert not slots[1].granted
    assert slots[1].at == pytest.approx(NOW + 1.0 - 0.5)
    # The refused message took no tenant slot: the next one goes right after the first.
    assert slots[2].granted
    assert slots[2].at == pytest.approx(NOW + 0.02)
    # And the slow sender's next slot is still one second after its only grant.
    later = reserve([("sender:slow",), ("tenant:1",)], rates, horizon=5.0)
    assert [slot.at for slot in later] == pytest.approx([NOW + 1.0, NOW + 0.04])


def test_an_idle_key_starts_again_from_now(reserve):
    rates = {"tenant:1": 10.0}
    reserve([("tenant:1",)] * 5, rates)

    slots = reserve([("tenant:1",)] * 2, rates, now=NOW + 60)
    assert granted_at(slots) == pytest.approx([NOW + 60, NOW + 60.1])


def test_a_huge_rate_is_unlimited_in_effect(reserve):
    slots = reserve([("tenant:1", "sender:1")] * 500, {"tenant:1": 1e9, "sender:1": 1e9})

    assert all(slot.granted for slot in slots)
    assert max(granted_at(slots)) < NOW + 0.001


def test_earlier_requests_in_a_batch_come_first(reserve):
    rates = {"sender:a": 1.0, "sender:b": 1.0}
    slots = reserve([("sender:a",), ("sender:b",), ("sender:a",), ("sender:b",)], rates, horizon=0.0)

    assert [slot.granted for slot in slots] == [True, True, False, False]
    assert [slot.at for slot in slots] == pytest.approx([NOW, NOW, NOW + 1.0, NOW + 1.0])


def test_a_request_with_no_keys_goes_now(reserve):
    assert reserve([()], {}) == [Slot(True, NOW)]


# The public entry point.


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ({"tenant:1": 0}, "positive"),
        ({"tenant:1": -5.0}, "positive"),
        ({"tenant:1": math.nan}, "positive"),
        ({"tenant:1": math.inf}, "finite"),
        ({}, "positive"),
    ],
)
def test_every_key_needs_a_positive_finite_rate(rates, message):
    with pytest.raises(ValueError, match=message):
        reserve_slots([("tenant:1",)], rates, now=NOW)


def test_a_negative_horizon_is_refused():
    with pytest.raises(ValueError, match="horizon"):
        reserve_slots([("tenant:1",)], {"tenant:1": 1.0}, now=NOW, horizon=-1.0)


def test_an_empty_batch_asks_nothing():
    assert reserve_slots([], {}) == []


@pytest.mark.django_db
def test_reserve_slots_uses_the_configured_store_and_its_clock(request):
    if settings.REDIS_URL:
        request.getfixturevalue("redis_store")
    token = uuid.uuid4().hex[:10]
    requests, rates = tokened(token, [("tenant:1",)] * 3, {"tenant:1": 10.0})
    before = time.time()

    slots = reserve_slots(requests, rates)

    assert all(slot.granted for slot in slots)
    assert before - 0.5 <= slots[0].at <= time.time() + 0.5  # Redis's clock or ours: the same host
    if settings.REDIS_URL:
        assert not RateLimitState.objects.exists()
        client, _ = ratelimit._redis_client_and_script()
        assert float(client.get(ratelimit.key_prefix() + f"{token}:tenant:1")) == pytest.approx(slots[2].at + 0.1)
    else:
        assert RateLimitState.objects.get(key=f"{token}:tenant:1").tat == pytest.approx(slots[2].at + 0.1)


# Each store against the Python reference, bit for bit.


def random_batches(seed, rounds=40):
    rng = random.Random(seed)
    tenants = [f"tenant:{i}" for i in range(3)]
    senders = [f"sender:{i}" for i in range(8)]
    rates = {key: rng.choice([0.5, 1.0, 3.0, 7.3, 10.0, 13.0, 20.0, 50.0, 99.9, 1e9]) for key in tenants + senders}
    now = NOW + rng.random()
    for _ in range(rounds):
        now += rng.choice([0.0, rng.random() * 0.3, rng.random() * 2, -rng.random() * 0.05])  # clocks may disagree
        requests = [
            rng.choice([(rng.choice(tenants), rng.choice(senders)), (rng.choice(senders),), (rng.choice(tenants),), ()])
            for _ in range(rng.randint(1, 60))
        ]
        yield requests, rates, now, rng.choice([0.0, 0.25, 1.0, 1.0, 2.5])


@pytest.mark.parametrize("store", ["database", "redis"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_store_gives_exactly_the_reference_slots(request, store, seed):
    if store == "redis":
        reserve = request.getfixturevalue("redis_store")
    else:
        request.getfixturevalue("db")
        reserve = ratelimit._reserve_db
    token = uuid.uuid4().hex[:10]
    reference: dict[str, float] = {}

    for requests, rates, now, horizon in random_batches(seed):
        expected = ratelimit.plan(requests, rates, reference, now, horizon)
        assert reserve(*tokened(token, requests, rates), now=now, horizon=horizon) == expected  # exact floats

    for key, tat in reference.items():
        if store == "redis":
            client, _ = ratelimit._redis_client_and_script()
            stored = float(client.get(ratelimit.key_prefix() + f"{token}:{key}"))
        else:
            stored = RateLimitState.objects.get(key=f"{token}:{key}").tat
        assert stored == tat


def test_redis_keys_expire_a_minute_after_their_last_slot(redis_store):
    token = uuid.uuid4().hex[:10]
    client, _ = ratelimit._redis_client_and_script()
    prefix = ratelimit.key_prefix()

    rates = {"tenant:1": 1.0, "tenant:2": 1.0, "sender:1": 0.1}
    now = time.time()
    ratelimit._reserve_redis(*tokened(token, [("tenant:1", "sender:1")], rates), now=now, horizon=1.0)

    assert 60 <= client.ttl(f"{prefix}{token}:tenant:1") <= 62
    assert 69 <= client.ttl(f"{prefix}{token}:sender:1") <= 71  # its next slot is 10 s away
    # A key no message was granted through is not written at all.
    ratelimit._reserve_redis(*tokened(token, [("sender:1", "tenant:2")], rates), now=now, horizon=1.0)
    assert not client.exists(f"{prefix}{token}:tenant:2")


def test_reset_forgets_only_this_limiters_keys(redis_store):
    client, _ = ratelimit._redis_client_and_script()
    ratelimit._reserve_redis([("tenant:1",)], {"tenant:1": 1.0}, now=time.time(), horizon=1.0)
    other = f"{settings.CACHES['default']['KEY_PREFIX']}-other:rl:tenant:1"  # another run's limiter
    client.set(other, "1", ex=60)

    ratelimit.reset()

    assert not client.exists(ratelimit.key_prefix() + "tenant:1")
    assert client.exists(other)
    client.delete(other)


# Global: one bound across processes (Redis) and across database connections (PostgreSQL).

TENANT_RATE, SENDER_RATE, BATCH = 50.0, 20.0, 20


def pace(reserve, tenant, sender, start, end):
    """A dispatcher's loop: reserve a batch, hand each granted one over at its slot, repeat.

    Returns [(slot, handed over at)]. Slots past ``end`` are reserved but not handed over.
    """
    rates = {tenant: TENANT_RATE, sender: SENDER_RATE}
    handed = []
    time.sleep(max(0.0, start - time.time()))
    while time.time() < end:
        slots = reserve([(tenant, sender)] * BATCH, rates)
        granted = [slot.at for slot in slots if slot.granted]
        for at in granted:
            if at > end:
                break
            time.sleep(max(0.0, at - time.time()))
            handed.append((at, time.time()))
        if not granted:
            time.sleep(max(0.0, min(min(slot.at for slot in slots), end) - time.time()))
    return handed


# A worker process: Django set up, then the same loop (its source, not this module's imports).
WORKER = f"""
import json, sys, time
import django
import redis  # imported before the start, like a warm worker's
django.setup()
from messaging.ratelimit import reserve_slots
TENANT_RATE, SENDER_RATE, BATCH = {TENANT_RATE!r}, {SENDER_RATE!r}, {BATCH!r}
{inspect.getsource(pace)}
print("ready", flush=True)
start, end = map(float, sys.stdin.readline().split())
print(json.dumps(pace(reserve_slots, sys.argv[1], sys.argv[2], start, end)), flush=True)
"""


def assert_paced(handed, seconds):
    slots = [slot for slot, _ in handed]
    actual = [at for _, at in handed]
    bound = int(SENDER_RATE) + 1
    assert max_in_window(slots) <= bound, "the limiter granted too many slots in one second"
    # A hand-off never goes before its slot. It may go a little after (a busy machine wakes a
    # sleeper late), which can put one or two late ones in the same second as on-time ones:
    # that is scheduling jitter, not the limiter granting too much (checked on slots above).
    assert all(at >= slot - 0.001 for slot, at in handed), "a hand-off went before its slot"
    assert max_in_window(actual) <= bound + 2, "too many hand-offs in one second"
    assert SENDER_RATE * seconds * 0.9 <= len(handed) <= SENDER_RATE * seconds + bound


def test_the_limit_is_global_across_four_worker_processes(redis_store):
    token = uuid.uuid4().hex[:10]
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "smscrm.settings",
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, f"{token}:tenant:1", f"{token}:sender:1"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        start = time.time() + 0.1
        for worker in workers:
            worker.stdin.write(f"{start!r} {start + 10.0!r}\n")
            worker.stdin.flush()
        per_worker = [json.loads(worker.communicate(timeout=30)[0].strip().splitlines()[-1]) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert all(worker.returncode == 0 for worker in workers)

    assert all(per_worker), f"every process handed some over: {[len(handed) for handed in per_worker]}"
    assert_paced([tuple(pair) for handed in per_worker for pair in handed], 10)


@pytest.mark.django_db(transaction=True)
def test_the_database_store_holds_the_limit_across_four_threads(settings):
    require_postgresql()
    settings.REDIS_URL = ""  # the database store, whatever the run configures
    token = uuid.uuid4().hex[:10]
    start = time.time() + 0.2
    results, errors = [None] * 4, []

    def run(i):
        try:
            results[i] = pace(reserve_slots, f"{token}:tenant:1", f"{token}:sender:1", start, start + 3.0)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors

    assert all(results), f"every thread handed some over: {[len(handed or []) for handed in results]}"
    assert_paced([pair for handed in results for pair in handed], 3)
