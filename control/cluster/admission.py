"""Admission control shared by every gateway: session slots and the waiting queue in Redis.

Each change is one Lua script, timed by the Redis clock, so gateways on several machines
agree without locks. A slot and a queue place carry an expiry refreshed by the gateway's
heartbeat tick: a crashed gateway's sessions free their slots after ``heartbeat_ttl_s``.

Capacity rule, counting only live processes. Each beating process's heartbeat
(control/cluster/heartbeat.py) carries a ``share`` (sessions it lets the system admit) and a
``hold`` (sessions it keeps admitted); ``admission_rule`` says what they are:

- sessions (the seed's Pipeline Manager): a face processor's share and hold are one
  pipeline, ``max_clients_per_pipeline``; configured = ``max_pipelines x
  max_clients_per_pipeline``; only the face stage limits;
- measured: every face and phone process measures its share from the frames it evaluates
  (control/cluster/share.py), hold = ``admission_share_ceiling``; configured = ``max_pipelines x
  admission_share_ceiling``; the face and the phone stage both limit.

- until any face processor has ever beaten in this namespace (``{ns}:processors:seen``
  absent; it is refreshed by every face heartbeat and lapses after 24 h without one), the
  capacity is the configured one, so a gateway works alone (tests, protocol checks);
- afterwards a session is admitted while the sessions in use are below capacity =
  ``min(configured, each limiting stage's summed share over its live processes)``; a limiting
  stage other than face with no live process does not limit; with no live face processor,
  capacity is 0. Queued sessions are admitted in order (their queue position) as it grows.
- the sessions in use are cut to ``min(configured, summed hold of the live face
  processors)``: when a face processor's heartbeat expires, the newest sessions above it lose
  their slots (the gateway closes them with 1013). A measured share that falls (load,
  back-pressure) only stops admissions: it never closes an admitted session.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
import redis.asyncio as aioredis

from control.cluster import redis_keys as keys
from vigil.core import metrics
from vigil.core.flow import CAPACITY_STAGE, STAGES
from vigil.core.settings import Settings

# KEYS: 1 slots, 2 slots:order, 3 queue, 4 queue:expiry, 5 tickets, 6 processes, 7 seen.
# ARGV: 1 configured capacity, 2 process hash prefix, 3 limiting roles (comma-separated),
# then the script's own arguments. capacity() -> admit (shares), hold (holds).
_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function clean(now)
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
    redis.call('ZREM', KEYS[2], s)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)) do
    redis.call('ZREM', KEYS[3], s)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
end
local function capacity()
  local configured = tonumber(ARGV[1])
  if redis.call('EXISTS', KEYS[7]) == 0 then return configured, configured end
  local shares, holds = {}, 0
  for role in string.gmatch(ARGV[3], '[^,]+') do shares[role] = false end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
    local f = redis.call('HMGET', ARGV[2] .. id, 'role', 'share', 'hold')
    if shares[f[1]] ~= nil then shares[f[1]] = (shares[f[1]] or 0) + (tonumber(f[2]) or 0) end
    if f[1] == 'CAPACITY_ROLE' then holds = holds + (tonumber(f[3] or f[2]) or 0) end
  end
  local admit = math.min(configured, shares['CAPACITY_ROLE'] or 0)
  for _, share in pairs(shares) do
    if share then admit = math.min(admit, share) end
  end
  return admit, math.min(configured, holds)
end
local now = now_ms()
clean(now)
""".replace("CAPACITY_ROLE", CAPACITY_STAGE.name)  # the flow table's capacity stage

# ARGV 4 session, 5 ttl_ms, 6 queue_limit -> {result, position, capacity}
# result: 1 admitted, 0 queued, -1 queue full.
_ENTER = _PRELUDE + """
local s, ttl, limit = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local cap = capacity()
if redis.call('ZSCORE', KEYS[1], s) then return {1, 0, cap} end
local free = cap - redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[3], s)
if not rank then
  local waiting = redis.call('ZCARD', KEYS[3])
  if waiting == 0 and free > 0 then rank = 0
  elseif waiting >= limit then return {-1, 0, cap}
  else
    redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), s)
    rank = redis.call('ZRANK', KEYS[3], s)
  end
end
if rank < free then
  redis.call('ZREM', KEYS[3], s)
  redis.call('ZREM', KEYS[4], s)
  redis.call('ZADD', KEYS[1], now + ttl, s)
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), s)
  return {1, 0, cap}
end
redis.call('ZADD', KEYS[4], now + ttl, s)
return {0, rank + 1, cap}
"""

# ARGV 4 session
_LEAVE = _PRELUDE + """
redis.call('ZREM', KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[4])
return 1
"""

# ARGV 4 ttl_ms, 5 restore ("1": Redis lost its data), 6.. own admitted sessions
# -> {capacity, used, waiting, lost...}. On restore, own sessions missing from the slots are
# written back (as the newest, so a capacity drop evicts them first) instead of lost.
_REFRESH = _PRELUDE + """
local ttl = tonumber(ARGV[4])
local cap, hold = capacity()
local over = redis.call('ZCARD', KEYS[1]) - hold
if over > 0 then
  for _, s in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, over - 1)) do
    redis.call('ZREM', KEYS[1], s)
    redis.call('ZREM', KEYS[2], s)
  end
end
local result = {cap, 0, 0}
for i = 6, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
  elseif ARGV[5] == '1' then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[i])
  else
    table.insert(result, ARGV[i])
  end
end
result[2] = redis.call('ZCARD', KEYS[1])
result[3] = redis.call('ZCARD', KEYS[3])
return result
"""


class AdmissionResult(StrEnum):
    ADMITTED = "admitted"
    QUEUED = "queued"
    FULL = "full"


@dataclass(frozen=True)
class Admission:
    result: AdmissionResult
    position: int  # 1-based place in the queue when queued, else 0
    capacity: int


@dataclass(frozen=True)
class Occupancy:
    """Capacity now, slots in use, clients waiting, and own sessions that lost their slot."""

    capacity: int
    used: int
    waiting: int
    lost: frozenset[str] = frozenset()


def _keys(ns: str) -> list[str]:
    return [keys.slots_key(ns), keys.slots_order_key(ns), keys.queue_key(ns),
            keys.queue_expiry_key(ns), keys.tickets_key(ns), keys.processes_key(ns),
            keys.processors_seen_key(ns)]


def limiting_roles(settings: Settings) -> list[str]:
    """The stages whose live processes' shares limit the capacity under the settings' rule."""
    if settings.scaling.admission_rule == "measured":
        return [s.name for s in STAGES if s.beats]
    return [CAPACITY_STAGE.name]


def _base_args(settings: Settings) -> list[str]:
    """ARGV 1-3 of every script: configured capacity, process hash prefix, limiting roles."""
    return [str(settings.scaling.capacity),
            keys.process_key_prefix(settings.deployment.namespace),
            ",".join(limiting_roles(settings))]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AdmissionController:
    """The gateway's side of admission (redis.asyncio)."""

    def __init__(self, settings: Settings, client: aioredis.Redis) -> None:
        self.settings = settings
        self._keys = _keys(settings.deployment.namespace)
        self._base = _base_args(settings)
        self._enter = client.register_script(_ENTER)
        self._leave = client.register_script(_LEAVE)
        self._refresh = client.register_script(_REFRESH)

    @property
    def _ttl_ms(self) -> str:
        return str(int(self.settings.control.heartbeat_ttl_s * 1000))

    async def enter(self, session_id: str) -> Admission:
        """Admit, queue (or keep queued, refreshing the place) or refuse one session."""
        result, position, capacity = await self._enter(
            keys=self._keys,
            args=[*self._base, session_id, self._ttl_ms, str(self.settings.gateway.queue_limit)])
        kind = {1: AdmissionResult.ADMITTED, 0: AdmissionResult.QUEUED}.get(
            int(result), AdmissionResult.FULL)
        return Admission(kind, int(position), int(capacity))

    async def leave(self, session_id: str) -> None:
        """Free the session's slot or queue place (every kind of disconnect)."""
        await self._leave(keys=self._keys, args=[*self._base, session_id])

    async def refresh(self, session_ids: list[str], restore: bool = False) -> Occupancy:
        """Extend own slots, apply a capacity drop; returns which own sessions lost a slot.

        ``restore``: Redis lost its data (control/cluster/redis_epoch.py), so own sessions missing
        from the slots are written back rather than lost."""
        reply = await self._refresh(keys=self._keys, args=[
            *self._base, self._ttl_ms, "1" if restore else "0", *session_ids])
        occupancy = Occupancy(int(reply[0]), int(reply[1]), int(reply[2]),
                              frozenset(_text(s) for s in reply[3:]))
        metrics.CAPACITY.set(occupancy.capacity)
        metrics.SESSIONS_IN_USE.set(occupancy.used)
        metrics.QUEUE_WAITING.set(occupancy.waiting)
        return occupancy


def occupancy(settings: Settings, client: redis.Redis) -> Occupancy:
    """Capacity, slots in use and queue length now (sync, for `vigil status`)."""
    script = client.register_script(_REFRESH)
    ns = settings.deployment.namespace
    reply = script(
        keys=_keys(ns),
        args=[*_base_args(settings), str(int(settings.control.heartbeat_ttl_s * 1000)), "0"],
    )
    return Occupancy(int(reply[0]), int(reply[1]), int(reply[2]))
