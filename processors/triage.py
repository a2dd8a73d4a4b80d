"""Which frames are worth the models: load shedding before inference.

A frame is worth something for seconds, not minutes. Before a processor runs its models on a
batch it sorts each frame:

- its session has ended (the gateway set ``{ns}:ended:{session_id}`` when it released the
  session, or the client's session hash now names another session) -> ``session_ended``:
  nobody waits for it; skipped (the result says so, so decide does not wait either);
- older than ``frame_max_age_ms``, or than ``decide_deadline_ms`` if that is shorter, since
  the gateway received it -> ``stale``: the client is still there, so it gets an explicit
  answer (reason ``stale``) instead of a late verdict. Past decide's deadline the frame's
  other half may already have been decided ``incomplete``: running the models on it then is
  work nobody reads, and under load that waste is what keeps a stack behind (measured: 26
  clients, a start-up burst, then 85% of frames `incomplete` for the rest of the run);
- otherwise the models run on it.

So after a restart with a backlog, or under a burst, the models spend their time on live
sessions' fresh frames, and the rest is answered in one Redis round trip per batch.

When Redis cannot be asked, every session counts as live (processing a frame nobody waits for
costs time; skipping a live session's frame would leave a client unanswered); the next check
is after ``REDIS_RETRY_S``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import redis

from control.cluster import redis_keys as keys
from schemas.events import FrameHeaders, Unprocessed, now_ms
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

REDIS_RETRY_S = 5.0
REDIS_TIMEOUT_S = 0.5


class SessionRegistry:
    """Which of a batch's sessions have ended, from the gateway's keys in Redis."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.namespace = settings.deployment.namespace
        self.redis = client or redis.Redis.from_url(
            settings.redis.url, socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S)
        self._down_until = 0.0

    def ended(self, sessions: set[tuple[str, str]]) -> set[str]:
        """The session ids among (client_id, session_id) pairs that have ended."""
        if not sessions or time.monotonic() < self._down_until:
            return set()
        pairs = sorted(sessions)
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for client_id, session_id in pairs:
                    pipe.exists(keys.ended_session_key(self.namespace, session_id))
                    pipe.hget(keys.session_key(self.namespace, client_id),
                              keys.SESSION_ID_FIELD)
                replies = pipe.execute()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + REDIS_RETRY_S
            log.warning("session check skipped for %.0f s, every session counts as live: "
                        "redis=%s error=%s", REDIS_RETRY_S, self.redis, exc)
            return set()
        ended = set()
        for (_client, session_id), marked, owner in zip(pairs, replies[::2], replies[1::2],
                                                        strict=True):
            owner = owner.decode() if isinstance(owner, bytes) else owner
            if marked or (owner is not None and owner != session_id):
                ended.add(session_id)
        return ended

    def close(self) -> None:
        self.redis.close()


class FrameTriage:
    """Sorts a batch's frames: None (run the models), ``stale`` or ``session_ended``."""

    def __init__(self, settings: Settings, sessions: SessionRegistry,
                 clock: Callable[[], int] = now_ms) -> None:
        self.max_age_ms = min(settings.processors.frame_max_age_ms, settings.decide.deadline_ms)
        self.sessions = sessions
        self.clock = clock

    def sort(self, frames: Sequence[FrameHeaders]) -> list[Unprocessed | None]:
        """One verdict per frame, in order."""
        ended = self.sessions.ended({(h.client_id, h.session_id) for h in frames})
        now = self.clock()
        verdicts: list[Unprocessed | None] = []
        for h in frames:
            if h.session_id in ended:
                verdicts.append(Unprocessed.SESSION_ENDED)
            elif now - h.received_at > self.max_age_ms:
                verdicts.append(Unprocessed.STALE)
            else:
                verdicts.append(None)
        return verdicts
