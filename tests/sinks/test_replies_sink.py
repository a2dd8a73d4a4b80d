"""The replies sink against real Kafka and Redis: one reply per frame, to the right gateway."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client import REGISTRY

from control.cluster import redis_keys as keys
from schemas.events import Action
from sinks.replies import ReplySink
from tests.sinks.conftest import (
    committed_to_end,
    decision,
    produce_decisions,
    running,
    wait_for,
)
from vigil.core.settings import Settings
from vigil.core.topics import DECISIONS

pytestmark = pytest.mark.integration


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("vigil_frames_dropped_total",
                                      {"stage": "replies", "reason": reason})
    return value or 0.0


def test_each_frame_is_replied_once_and_locks_follow_the_client(sink_settings: Settings,
                                                                 group_id: str) -> None:
    ns = sink_settings.deployment.namespace
    client = redis.Redis.from_url(sink_settings.redis.url)
    client.hset(keys.session_key(ns, "alice"), mapping={"gateway_id": "gw-1",
                                                        "session_id": "s-1"})
    client.hset(keys.session_key(ns, "carol"), mapping={"gateway_id": "gw-2",
                                                        "session_id": "s-new"})
    pubsub = client.pubsub()
    pubsub.subscribe(keys.reply_channel(ns, "gw-1"), keys.reply_channel(ns, "gw-2"))
    before = {r: dropped(r) for r in ("no_session", "duplicate", "stale_session")}

    first = decision("h-1", client_id="alice")
    moved = decision("h-3", client_id="carol")  # a lock for carol's previous session s-1
    held = decision("h-5", client_id="bob", action=Action.SIGN_OUT)
    produce_decisions(sink_settings, [
        first,
        first,                                                    # decided twice (a replay)
        decision("h-2", client_id="bob", action=Action.ALLOW),    # no session: dropped
        held,                                                     # no session: held for bob
        held,                                                     # ...once
        moved,                                                    # to carol's session now
        decision("h-4", client_id="carol", action=Action.ALLOW),  # allow of s-1: dropped
    ])
    sink = ReplySink(sink_settings, group_id=group_id)
    with running(sink) as thread:
        wait_for(lambda: committed_to_end(sink_settings, group_id, [DECISIONS]), 45,
                 thread)

    received = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg is not None:
            received.append((msg["channel"].decode(),
                             DECISIONS.serializer.loads(msg["data"])))
    pubsub.close()
    # One client's replies keep their order; two clients' partitions are read in any order.
    assert sorted(received, key=lambda r: r[1].frame_id) == [
        (keys.reply_channel(ns, "gw-1"), first), (keys.reply_channel(ns, "gw-2"), moved)]
    assert 0 < client.ttl(keys.replied_key(ns, "h-1")) <= sink_settings.sinks.reply_dedupe_ttl_s
    assert client.exists(keys.replied_key(ns, "h-2")) == 0
    held_now = client.lrange(keys.held_key(ns, "bob"), 0, -1)
    assert [DECISIONS.serializer.loads(raw) for raw in held_now] == [held]
    assert 0 < client.ttl(keys.held_key(ns, "bob")) <= sink_settings.sinks.held_decisions_ttl_s
    assert dropped("no_session") - before["no_session"] == 1
    assert dropped("duplicate") - before["duplicate"] == 2
    assert dropped("stale_session") - before["stale_session"] == 1
    client.close()
