"""The gateway's tick: its sessions' state in Redis kept alive, and written back after a loss.

Every third of ``heartbeat_ttl_s`` (:meth:`SessionUpkeep.run`) the gateway extends its
sessions' slots (control/cluster/admission.py, which also applies a capacity drop) and
session hashes (a crashed gateway's lapse after the TTL), closes the sessions that lost either
(1013 capacity withdrawn, 1008 replaced by a newer session elsewhere), and expires frames that
waited too long for a decision. A failed tick is tried again within half a second.

Redis is a cache (control/cluster/redis_epoch.py). When it lost its data, the tick writes this
gateway's part back instead of closing its sessions: the missing slots, each session's hash
``{ns}:session:{client_id}`` where it is absent (a newer session of the client elsewhere may own
it by now), every client's state hash from the user database, then the epoch marker (which
the replies sink waits for). It does so only once the listener subscribed the reply channel
again (ingest/listeners.py), so no decision is published to nobody; the process heartbeat
comes back with its next beat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from control.cluster import redis_keys as keys
from control.cluster.admission import AdmissionController
from control.cluster.redis_epoch import new_epoch
from control.events.outbox import client_hash
from control.users.db import UserRepository
from ingest.protocol import CloseCode
from ingest.session import Session
from schemas.events import now_ms
from vigil.core.background import BackgroundLoop
from vigil.core.settings import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRED = "session expired: sign in again"  # max_session_s

RETRY_TICK_S = 0.5

# KEYS: session hash. ARGV: gateway_id, session_id, admitted_at, ttl_ms.
_RESTORE_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'gateway_id', ARGV[1], 'session_id', ARGV[2], 'admitted_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class SessionUpkeep:
    """One gateway's tick; see the module docstring."""

    def __init__(self, settings: Settings, client: aioredis.Redis, repo: UserRepository,
                 admission: AdmissionController, gateway_id: str,
                 subscribed: asyncio.Event) -> None:
        self.settings = settings
        self.subscribed = subscribed  # the gateway's reply channel (ingest/listeners.py)
        self.redis = client
        self.repo = repo
        self.admission = admission
        self.gateway_id = gateway_id
        self.key = keys.epoch_key(settings.deployment.namespace)
        self.known: bytes | str | None = None
        self._session = client.register_script(_RESTORE_SESSION)

    def loop(self, admitted: Callable[[], list[Session]]) -> BackgroundLoop:
        """The tick as a background loop; ``admitted`` gives the sessions to keep at each
        tick. A Redis error brings the next tick soon (to restore quickly once Redis is
        back); any other error (the user database during a rebuild, say) is logged, counted
        and retried with a backoff by the loop."""
        interval = self.settings.control.heartbeat_ttl_s / 3

        async def one_tick() -> float:
            try:
                return interval if await self.tick(admitted()) else RETRY_TICK_S
            except aioredis.RedisError as exc:
                log.error("gateway tick failed redis=%s error=%s", self.settings.redis.url,
                          exc)
                return min(interval, RETRY_TICK_S)

        # The gateway ticks once itself before serving; the loop's first tick comes later.
        return BackgroundLoop("tick", one_tick, interval, start_after_s=interval)

    async def tick(self, admitted: list[Session]) -> bool:
        """Refresh (or write back) the sessions' slots and hashes; close those that lost one.

        False when a write-back waits for the reply channel: a session written back before
        its gateway listens again would have its decisions published to nobody."""
        restore = await self.lost()
        if restore and not self.subscribed.is_set():
            return False
        occupancy = await self.admission.refresh([s.session_id for s in admitted], restore)
        if restore:
            await self.restore(admitted)
        ttl_ms = int(self.settings.control.heartbeat_ttl_s * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in admitted:
                key = keys.session_key(self.settings.deployment.namespace, s.client_id)
                pipe.hget(key, keys.SESSION_ID_FIELD)
                pipe.pexpire(key, ttl_ms)
            replies = await pipe.execute()
        oldest = now_ms() - int(self.settings.gateway.max_session_s * 1000)
        for s, owner in zip(admitted, replies[::2], strict=True):
            owner = owner.decode() if isinstance(owner, bytes) else owner
            if s.session_id in occupancy.lost:
                s.close(CloseCode.TRY_AGAIN_LATER, "capacity withdrawn")
            elif owner != s.session_id:
                s.close(CloseCode.POLICY, "replaced by a newer session")
            elif self.settings.gateway.max_session_s and s.admitted_at < oldest:
                log.info("session expired client_id=%s session_id=%s", s.client_id,
                         s.session_id)
                s.close(CloseCode.POLICY, SESSION_EXPIRED)
            s.expire_in_flight(self.settings.gateway.in_flight_timeout_s)
        return True

    async def lost(self) -> bool:
        """Whether Redis is not the one this gateway last wrote its state to."""
        current = await self.redis.get(self.key)
        return current is None or current != self.known

    async def restore(self, sessions: Sequence[Session]) -> None:
        """Write back the sessions' hashes and every client's state, then the marker."""
        ns = self.settings.deployment.namespace
        ttl_ms = str(int(self.settings.control.heartbeat_ttl_s * 1000))
        written = 0
        for session in sessions:
            written += int(await self._session(
                keys=[keys.session_key(ns, session.client_id)],
                args=[self.gateway_id, session.session_id, str(session.admitted_at), ttl_ms]))
        records = await asyncio.to_thread(self.repo.list_clients)
        async with self.redis.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.hset(keys.client_key(ns, record.client_id), mapping=client_hash(record))
            await pipe.execute()
        await self.redis.set(self.key, new_epoch(), nx=True)
        self.known = await self.redis.get(self.key)
        log.info("Redis state written back gateway_id=%s sessions=%d/%d clients=%d epoch=%s",
                 self.gateway_id, written, len(sessions), len(records),
                 self.known)
