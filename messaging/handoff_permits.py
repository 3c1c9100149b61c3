"""The hand-off's permits: how many calls each process may have in flight per provider account.

One rule, two stores: ``RedisPermits`` shares an account's permits among every process (one
Lua script gives back, adapts the cap and takes, in one round trip; each process's permits
are held under a lease its every exchange renews, so a killed worker's come back when it
lapses), ``LocalPermits`` counts them in this process (no Redis: the laptop default). Each 429
lowers what the account may have in flight by one; accepted answers let it creep back by one
per n at n in flight. The engine (messaging.handoff) asks through ``Exchange``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings

#: How often at most (seconds) a process says in the log that an account's cap was cut.
LOG_EVERY = 1.0


# KEYS: the account's holders hash (process token → permits held), leases sorted set (process
# token → lease expiry) and state hash (eff: the adapted cap; cut_at: the last cut).
# ARGV: token, give back, accepted with room to spare per Twilio's count, refused 429, want, cap,
# lease, log every. Returns {granted, eff as text, 1 when this call should say so in the log, how many
# more the account has in flight than it may (above 0: give permits back rather than pass them on)}.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local token = ARGV[1]
local give, grow, limited = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local want, cap, lease = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local every = tonumber(ARGV[8])
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], dead)
  redis.call('ZREM', KEYS[2], dead)
end
local eff = tonumber(redis.call('HGET', KEYS[3], 'eff') or cap)
if eff > cap then eff = cap end
local cut = 0
if limited > 0 then
  eff = math.max(1, eff - limited)
  local cut_at = tonumber(redis.call('HGET', KEYS[3], 'cut_at') or '0')
  if now - cut_at >= every then
    redis.call('HSET', KEYS[3], 'cut_at', string.format('%.6f', now))
    cut = 1
  end
end
if grow > 0 and eff < cap then
  eff = math.min(cap, eff + grow / math.max(eff, 1))
end
redis.call('HSET', KEYS[3], 'eff', string.format('%.6f', eff))
local mine = math.max(0, tonumber(redis.call('HGET', KEYS[1], token) or '0') - give)
local used = mine
for i, value in ipairs(redis.call('HGETALL', KEYS[1])) do
  if i % 2 == 0 then used = used + tonumber(value) end
end
used = used - tonumber(redis.call('HGET', KEYS[1], token) or '0')
local granted = math.max(0, math.min(want, math.floor(eff) - used))
mine = mine + granted
if mine > 0 then
  redis.call('HSET', KEYS[1], token, mine)
  redis.call('ZADD', KEYS[2], now + lease, token)
else
  redis.call('HDEL', KEYS[1], token)
  redis.call('ZREM', KEYS[2], token)
end
local ttl = math.ceil(lease * 4)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], 3600)
return {granted, string.format('%.6f', eff), cut, used + granted - math.floor(eff)}
"""


@dataclass
class Exchange:
    """What one process gives back and asks for, for one account, in one round trip."""

    give: int = 0
    grow: int = 0  # accepted while the provider's count had room: the cap may creep back
    limited: int = 0  # refused with 429: the cap comes down by one each
    want: int = 0


class RedisPermits:
    """Permits shared by every process through Redis, each process's held under a lease."""

    def __init__(self, url: str, *, prefix: str, token: str, lease: float):
        import redis.asyncio

        # Bounded waits: a Redis that stops answering fails the exchange (nothing starts without a
        # permit) instead of hanging the pump.
        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.script = self.client.register_script(_LUA)
        self.prefix, self.token, self.lease = prefix, token, lease

    async def exchange(self, account_sid: str, cap: int, ask: Exchange) -> tuple[int, float, bool, int]:
        base = f"{self.prefix}{account_sid}:"
        granted, eff, cut, over = await self.script(
            keys=[base + "holders", base + "leases", base + "state"],
            args=[
                self.token,
                ask.give,
                ask.grow,
                ask.limited,
                ask.want,
                cap,
                self.lease,
                LOG_EVERY,
            ],
        )
        return int(granted), float(eff), bool(cut), int(over)

    async def close(self) -> None:
        await self.client.aclose()


class LocalPermits:
    """The same rule counted in this process (no Redis: one worker process, the laptop default)."""

    def __init__(self):
        self.used: dict[str, int] = {}
        self.eff: dict[str, float] = {}
        self.cut_at: dict[str, float] = {}

    async def exchange(self, account_sid: str, cap: int, ask: Exchange) -> tuple[int, float, bool, int]:
        now = time.monotonic()
        eff, cut = min(self.eff.get(account_sid, cap), cap), False
        if ask.limited:
            eff = max(1.0, eff - ask.limited)
            if now - self.cut_at.get(account_sid, -math.inf) >= LOG_EVERY:
                cut = True
                self.cut_at[account_sid] = now
        if ask.grow and eff < cap:
            eff = min(float(cap), eff + ask.grow / max(eff, 1.0))
        self.eff[account_sid] = eff
        used = max(0, self.used.get(account_sid, 0) - ask.give)
        granted = max(0, min(ask.want, math.floor(eff) - used))
        self.used[account_sid] = used + granted
        return granted, eff, cut, used + granted - math.floor(eff)

    async def close(self) -> None:
        return None


def permits_key_prefix() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "") or "smscrm"
    return f"{prefix}:handoff:"


def reset() -> None:
    """Forget every account's permits and adapted cap (tests; an operator clearing a stuck cap)."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=permits_key_prefix() + "*", count=1000))
        if keys:
            client.delete(*keys)
