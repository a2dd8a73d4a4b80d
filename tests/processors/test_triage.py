"""Triage before the models: stale frames and ended sessions, against a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from control.cluster import redis_keys as keys
from processors.triage import FrameTriage, SessionRegistry
from schemas.events import FrameHeaders, Unprocessed
from vigil.core.settings import Settings, load_settings
from vigil.local.servers import free_port

pytestmark = pytest.mark.integration
NOW = 1_700_000_000_000


def headers(client: str, session: str, age_ms: int = 0) -> FrameHeaders:
    return FrameHeaders(frame_id=f"f-{client}-{session}-{age_ms}", client_id=client,
                        session_id=session, seq=1, captured_at=NOW - age_ms,
                        received_at=NOW - age_ms)


def test_frames_are_sorted_by_session_and_age(settings: Settings) -> None:
    ns = settings.deployment.namespace
    client = redis.Redis.from_url(settings.redis.url)
    client.set(keys.ended_session_key(ns, "s-closed"), "1")  # the gateway released it
    client.hset(keys.session_key(ns, "replaced"), mapping={"session_id": "s-newer"})
    client.hset(keys.session_key(ns, "live"), mapping={"session_id": "s-live"})
    triage = FrameTriage(settings.replace(frame_max_age_ms=5000, decide_deadline_ms=10_000),
                         SessionRegistry(settings), clock=lambda: NOW)
    frames = [
        headers("closed", "s-closed"),          # released by its gateway
        headers("replaced", "s-older"),         # the client has a newer session
        headers("replaced", "s-newer"),
        headers("live", "s-live", age_ms=5000),  # exactly at the limit: still fresh
        headers("live", "s-live", age_ms=5001),
        headers("unknown", "s-x"),              # no trace in Redis: counts as live
        headers("closed", "s-closed", age_ms=60_000),  # ended wins over stale
    ]
    assert triage.sort(frames) == [
        Unprocessed.SESSION_ENDED, Unprocessed.SESSION_ENDED, None, None, Unprocessed.STALE,
        None, Unprocessed.SESSION_ENDED]
    client.close()


def test_a_frame_past_decides_deadline_is_stale_whatever_the_max_age() -> None:
    # Past the deadline its other half may already be decided `incomplete`: no model work.
    down = load_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0",
                         frame_max_age_ms=5000, decide_deadline_ms=3000)
    registry = SessionRegistry(down)
    triage = FrameTriage(down, registry, clock=lambda: NOW)
    assert triage.sort([headers("a", "s1", age_ms=3000), headers("a", "s1", age_ms=3001)]) == [
        None, Unprocessed.STALE]
    registry.close()


def test_without_redis_every_session_counts_as_live() -> None:
    down = load_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    registry = SessionRegistry(down)
    triage = FrameTriage(down, registry, clock=lambda: NOW)
    started = time.monotonic()
    assert triage.sort([headers("a", "s1"), headers("b", "s2", age_ms=60_000)]) == [
        None, Unprocessed.STALE]
    # After a failure Redis is not asked again for a while: no timeout per batch.
    assert triage.sort([headers("a", "s1")]) == [None]
    assert time.monotonic() - started < 3.0
    registry.close()
