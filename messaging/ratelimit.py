"""A global rate limiter, shared by every worker process, asked once per batch.

Each message names the limiter keys it must pass (the tenant's and its sender's); each key has
a rate in messages per second. The algorithm is GCRA without burst: a key remembers the
theoretical arrival time (TAT) of its next message; a message's slot is the latest of now and
its keys' TATs, and it is granted when that slot falls within ``horizon`` seconds (inclusive),
advancing each of its keys to slot + 1/rate. So over any window of T seconds a key passes at
most T×rate + 1 messages, however many processes ask. An ungranted message advances nothing
and learns when to ask again: slot - horizon, the moment its slot comes within the horizon
(unless others take the keys' slots first).

The state lives in Redis when REDIS_URL is set (one Lua call per batch, on Redis's clock when
``now`` is not given), and otherwise in the database (RateLimitState rows locked for the
batch), for the laptop default. ``plan`` is the reference; the Lua script mirrors it operation
for operation, so both stores give bit-identical slots for the same inputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from messaging.models import RateLimitState

IDLE_TTL = 60  # seconds a key outlives its TAT in Redis, so idle keys vanish
# Slack on the horizon test: the sum of many 1/rate steps is rounded at every step (by up to
# 1.2e-7 s each at today's epoch), which must not drop a slot that falls right on the horizon.
# It moves no slot, so the spacing (and the T×rate + 1 bound) is untouched.
EPSILON = 1e-4


@dataclass(frozen=True)
class Slot:
    granted: bool
    at: float  # granted: when it may be handed over; not granted: when to ask again (epoch seconds)


def plan(
    requests: Sequence[tuple[str, ...]], rates: Mapping[str, float], tats: dict[str, float], now: float, horizon: float
) -> list[Slot]:
    """The algorithm itself (the Lua script mirrors it); updates ``tats`` in place.

    A key missing from ``tats`` has never been used (TAT 0, i.e. free now).
    """
    slots = []
    for keys in requests:
        slot = now
        for key in keys:
            tat = tats.get(key, 0.0)
            if tat > slot:
                slot = tat
        if slot <= now + horizon + EPSILON:
            for key in keys:
                tats[key] = slot + 1.0 / rates[key]
            slots.append(Slot(True, slot))
        else:
            slots.append(Slot(False, slot - horizon))
    return slots


def reserve_slots(
    requests: Sequence[tuple[str, ...]], rates: Mapping[str, float], *, now: float | None = None, horizon: float = 1.0
) -> list[Slot]:
    """Reserve a hand-off time for each request, in order; one round trip for the whole batch.

    ``requests``: for each message, the limiter keys it must pass, e.g. ("tenant:7", "sender:12").
    ``rates``: messages per second for every key named (positive and finite; 1e9 is unlimited
    in effect). ``now``: epoch seconds; by default Redis's clock (or, for the database store,
    this process's). Returns one Slot per request: granted, sleep until ``at`` then hand over;
    not granted, nothing was reserved, ask again at ``at``.
    """
    if not requests:
        return []
    for key in {key for keys in requests for key in keys}:
        rate = rates.get(key)
        if rate is None or not (0 < rate < math.inf):
            raise ValueError(f"rate limit key {key!r} needs a positive, finite rate (not {rate!r})")
    if not horizon >= 0:
        raise ValueError(f"horizon must be zero or more seconds, not {horizon!r}")
    if settings.REDIS_URL:
        return _reserve_redis(requests, rates, now=now, horizon=horizon)
    return _reserve_db(requests, rates, now=now, horizon=horizon)


def _reserve_db(requests, rates, *, now, horizon) -> list[Slot]:
    """The database store: the keys' rows locked in key order (no deadlocks) for the batch."""
    keys = sorted({key for keys in requests for key in keys})
    with transaction.atomic():
        RateLimitState.objects.bulk_create([RateLimitState(key=key) for key in keys], ignore_conflicts=True)
        rows = {row.key: row for row in RateLimitState.objects.select_for_update().filter(key__in=keys).order_by("key")}
        tats = {key: row.tat for key, row in rows.items()}
        # The clock is read once the locks are held: a batch that waited must not plan in the past.
        slots = plan(requests, rates, tats, time.time() if now is None else now, horizon)
        changed = []
        for key, row in rows.items():
            if tats[key] != row.tat:
                row.tat = tats[key]
                changed.append(row)
        if changed:
            RateLimitState.objects.bulk_update(changed, ["tat"])
    return slots


# KEYS: the distinct limiter keys. ARGV: now (or "" for Redis's clock), horizon, epsilon, ttl,
# the rates of KEYS in order, then two strings: the distinct key sets ("patterns"), each as
# its count of keys followed by their indexes in KEYS, and the requests as pattern indexes.
# A 500-message batch is a handful of arguments, not thousands: packing and parsing those
# would cost more than the script does. Numbers travel as repr() / %.17g text, so every
# double arrives exact. Returns one string: per request "1:<slot>" or "0:<retry at>".
_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local horizon = tonumber(ARGV[2])
local epsilon = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local nkeys = #KEYS
local tats, steps, changed = {}, {}, {}
for i = 1, nkeys do
  tats[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  steps[i] = 1.0 / tonumber(ARGV[4 + i])
end
local patterns, pattern, left = {}, nil, 0
for word in string.gmatch(ARGV[5 + nkeys], '%d+') do
  if left == 0 then
    pattern = {}
    patterns[#patterns + 1] = pattern
    left = tonumber(word)
  else
    pattern[#pattern + 1] = tonumber(word)
    left = left - 1
  end
end
local limit = now + horizon + epsilon
local out, n = {}, 0
local last_retry, last_text = nil, nil
for word in string.gmatch(ARGV[6 + nkeys], '%d+') do
  local keys = patterns[tonumber(word)]
  local slot = now
  for j = 1, #keys do
    local tat = tats[keys[j]]
    if tat > slot then slot = tat end
  end
  n = n + 1
  if slot <= limit then
    for j = 1, #keys do
      local k = keys[j]
      tats[k] = slot + steps[k]
      changed[k] = true
    end
    out[n] = '1:' .. string.format('%.17g', slot)
  else
    local retry = slot - horizon
    if retry ~= last_retry then
      last_retry, last_text = retry, '0:' .. string.format('%.17g', retry)
    end
    out[n] = last_text
  end
end
for i = 1, nkeys do
  if changed[i] then
    redis.call('SET', KEYS[i], string.format('%.17g', tats[i]), 'EX', math.max(1, math.ceil(tats[i] - now + ttl)))
  end
end
return table.concat(out, ' ')
"""

_redis = None  # (url, client, script), made on first use


def _redis_client_and_script():
    global _redis
    if _redis is None or _redis[0] != settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        # register_script runs EVALSHA, loading the script once per server on NOSCRIPT.
        _redis = (settings.REDIS_URL, client, client.register_script(_LUA))
    return _redis[1], _redis[2]


def key_prefix() -> str:
    """The Redis key prefix: the cache's KEY_PREFIX (differs in tests), else "smscrm"."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "") or "smscrm"
    return f"{prefix}:rl:"


def _reserve_redis(requests, rates, *, now, horizon) -> list[Slot]:
    keys = sorted({key for keys in requests for key in keys})
    index = {key: str(i + 1) for i, key in enumerate(keys)}
    patterns: dict[tuple[str, ...], str] = {}  # each distinct key set: its index, as text
    chosen = [patterns.setdefault(tuple(request), str(len(patterns) + 1)) for request in requests]
    argv: list = ["" if now is None else repr(float(now)), repr(float(horizon)), repr(EPSILON), IDLE_TTL]
    argv += [repr(float(rates[key])) for key in keys]
    argv.append(" ".join([" ".join([str(len(pattern)), *(index[key] for key in pattern)]) for pattern in patterns]))
    argv.append(" ".join(chosen))
    prefix = key_prefix()
    _client, script = _redis_client_and_script()
    answer = script(keys=[prefix + key for key in keys], args=argv)
    return [Slot(word[0] == "1", float(word[2:])) for word in answer.decode().split(" ")]


def reset() -> None:
    """Forget every key's state (tests, and an operator clearing a stuck limiter)."""
    if settings.REDIS_URL:
        client, _script = _redis_client_and_script()
        keys = list(client.scan_iter(match=key_prefix() + "*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        RateLimitState.objects.all().delete()
