"""Knowing that Redis lost its data, so that what lives there is written back from the truth.

Redis holds copies only: the user database is the truth for clients, and the live processes
for sessions and capacity. The marker ``{ns}:epoch`` (a random id, no TTL) tells whether the
Redis in front of a process still holds what was written there:

- a gateway (ingest/redis_restore.py) reads it on every tick. Absent, or another value than
  the one it last saw: Redis restarted empty (or another gateway already wrote its part back).
  The gateway writes back its sessions' slots and hashes and every client's state from the
  user database, then sets the marker where it is absent, and remembers it;
- heartbeats need nothing: every beat writes the process's whole entry again;
- the replies sink, before dropping a decision for want of a session, waits (bounded) while
  a marker it saw is gone: a gateway is about to write that session back.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

from control.cluster import redis_keys as keys

log = logging.getLogger(__name__)

POLL_S = 0.2


def new_epoch() -> str:
    return uuid.uuid4().hex


class EpochWatch:
    """A reader's view of the marker (sync client): is Redis being rebuilt right now?"""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.redis = client
        self.key = keys.epoch_key(namespace)
        self.known: bytes | str | None = None

    def rebuilding(self) -> bool:
        """True while a marker this reader saw is gone (Redis restarted empty, not yet
        written back); False when there is one, or there never was (nothing to wait for)."""
        current = self.redis.get(self.key)
        if current is not None:
            self.known = current
            return False
        return self.known is not None

    def wait_rebuilt(self, timeout_s: float, stop: threading.Event) -> bool:
        """Wait until a gateway wrote its state back; False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        while self.rebuilding():
            if time.monotonic() >= deadline or stop.wait(POLL_S):
                log.warning("Redis lost its data and no gateway wrote it back within %.0f s",
                            timeout_s)
                return False
        return True
