"""A global rate limiter, shared by every worker process, asked once per batch.

Each message names the limiter keys it must pass (the tenant's and its sender's); each key has
a rate in messages per second. The algorithm is GCRA without burst: a key remembers the
theoretical arrival time (TAT) of its next message; a message's slot is the latest of now and
its keys' TATs, and it is granted when that slot falls within ``horizon`` seconds, advancing
each key by 1/rate. So over any window of T seconds a key passes at most T×rate + 1 messages,
however many processes ask. Ungranted messages learn when to ask again.

The state lives in Redis when REDIS_URL is set (one Lua call per batch, on Redis's clock), and
otherwise in the database (RateLimitState rows locked for the batch), for the laptop default.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from messaging.models import RateLimitState

IDLE_TTL = 60  # seconds a key outlives its last slot in Redis


@dataclass(frozen=True)
class Slot:
    granted: bool
    at: float  # granted: when it may be handed over; not granted: when to ask again (epoch seconds)


def plan(
    requests: Sequence[tuple[str, ...]], rates: Mapping[str, float], tats: dict[str, float], now: float, horizon: float
) -> list[Slot]:
    """The algorithm itself (the Lua script mirrors it); updates ``tats`` in place."""
    slots = []
    for keys in requests:
        slot = max([now, *(tats.get(key, 0.0) for key in keys)])
        if slot <= now + horizon:
            for key in keys:
                tats[key] = slot + 1.0 / rates[key]
            slots.append(Slot(True, slot))
        else:
            slots.append(Slot(False, slot - horizon))
    return slots


def reserve_slots(
    requests: Sequence[tuple[str, ...]], rates: Mapping[str, float], *, now: float | None = None, horizon: float = 1.0
) -> list[Slot]:
    if not requests:
        return []
    for key in {key for keys in requests for key in keys}:
        if rates.get(key, 0) <= 0:
            raise ValueError(f"rate limit key {key!r} needs a positive rate")
    if settings.REDIS_URL:
        return _reserve_redis(requests, rates, now=now, horizon=horizon)
    return _reserve_db(requests, rates, now=now, horizon=horizon)


def _reserve_db(requests, rates, *, now, horizon) -> list[Slot]:
    keys = sorted({key for keys in requests for key in keys})
    with transaction.atomic():
        RateLimitState.objects.bulk_create([RateLimitState(key=key) for key in keys], ignore_conflicts=True)
        rows = {row.key: row for row in RateLimitState.objects.select_for_update().filter(key__in=keys).order_by("key")}
        tats = {key: row.tat for key, row in rows.items()}
        slots = plan(requests, rates, tats, time.time() if now is None else now, horizon)
        for key, row in rows.items():
            row.tat = tats[key]
        RateLimitState.objects.bulk_update(rows.values(), ["tat"])
    return slots


# KEYS: the distinct limiter keys. ARGV: now (or "" for Redis's clock), horizon, ttl, the
# rates of KEYS in order, then the requests as a count of keys followed by their KEYS indexes.
_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local horizon = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local nkeys = #KEYS
local tats, rates = {}, {}
for i = 1, nkeys do
  tats[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  rates[i] = tonumber(ARGV[3 + i])
end
local out = {}
local pos = 4 + nkeys
while pos <= #ARGV do
  local n = tonumber(ARGV[pos])
  local slot = now
  for j = 1, n do
    local tat = tats[tonumber(ARGV[pos + j])]
    if tat > slot then slot = tat end
  end
  if slot <= now + horizon then
    for j = 1, n do
      local k = tonumber(ARGV[pos + j])
      tats[k] = slot + 1.0 / rates[k]
    end
    out[#out + 1] = '1:' .. string.format('%.6f', slot)
  else
    out[#out + 1] = '0:' .. string.format('%.6f', slot - horizon)
  end
  pos = pos + n + 1
end
for i = 1, nkeys do
  redis.call('SET', KEYS[i], string.format('%.6f', tats[i]), 'EX', math.max(1, math.ceil(tats[i] - now + ttl)))
end
return out
"""

_script = None


def _redis_script():
    global _script
    if _script is None:
        import redis

        _script = redis.Redis.from_url(settings.REDIS_URL).register_script(_LUA)
    return _script


def key_prefix() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:rl:" if prefix else "smscrm:rl:"


def _reserve_redis(requests, rates, *, now, horizon) -> list[Slot]:
    keys = sorted({key for keys in requests for key in keys})
    index = {key: i + 1 for i, key in enumerate(keys)}
    argv: list = ["" if now is None else repr(float(now)), repr(float(horizon)), IDLE_TTL]
    argv += [repr(float(rates[key])) for key in keys]
    for request in requests:
        argv.append(len(request))
        argv += [index[key] for key in request]
    prefix = key_prefix()
    answers = _redis_script()(keys=[prefix + key for key in keys], args=argv)
    slots = []
    for answer in answers:
        granted, _, at = answer.decode().partition(":")
        slots.append(Slot(granted == "1", float(at)))
    return slots


def reset() -> None:
    """Forget every key's state (tests, and an operator clearing a stuck limiter)."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=key_prefix() + "*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        RateLimitState.objects.all().delete()
