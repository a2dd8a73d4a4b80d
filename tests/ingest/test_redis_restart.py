"""Redis is a cache: SIGKILLed and restarted empty, it is rebuilt from the user database and
the live processes within seconds, and nothing a client sees breaks."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection

from control.clients import ClientControl
from control.cluster import redis_keys as keys
from control.cluster.heartbeat import Heartbeat, live_processes
from control.users.db import ClientState
from control.users.repository import open_repository
from sinks.replies import ReplySink
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import (
    add_client,
    closed_with,
    expect,
    open_session,
    running_gateway,
    welcomed,
)
from tests.private_redis import private_redis
from tests.sinks.conftest import decision, produce_decisions, running
from vigil.core.flow import FACE_STAGE, REPLIES_STAGE
from vigil.core.settings import Settings
from vigil.core.topics import create_topics

pytestmark = pytest.mark.integration

REBUILT_WITHIN_S = 5.0


def _rebuilt(settings: Settings, session_id: str) -> bool:
    """Epoch marker, the session's slot and hash, the blocked client's state, the processes."""
    ns = settings.deployment.namespace
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=1)
    try:
        roles = {p.role for p in live_processes(client, ns)}
        return (client.exists(keys.epoch_key(ns)) == 1
                and client.zscore(keys.slots_key(ns), session_id) is not None
                and client.hget(keys.session_key(ns, "alice"), "session_id")
                == session_id.encode()
                and client.hget(keys.client_key(ns, "carol"), "state") == b"blocked"
                and roles == {"gateway", "face"})
    except redis.RedisError:
        return False
    finally:
        client.close()


async def _decisions(ws: ClientConnection, count: int, timeout_s: float = 15.0
                     ) -> list[dict[str, Any]]:
    return [await expect(ws, "decision", timeout_s=timeout_s) for _ in range(count)]


def test_state_is_rebuilt_after_redis_restarts_empty(
        make_gateway_settings: SettingsFactory, tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as server:
        settings = make_gateway_settings(redis_url=server.url)
        create_topics(settings)
        tokens = {c: add_client(settings, c) for c in ("alice", "bob", "carol")}
        repo = open_repository(settings)
        control = ClientControl(settings, repo)
        control.set_state("carol", ClientState.BLOCKED, "lost badge")
        stop = threading.Event()
        Heartbeat.start_for_stage(settings, FACE_STAGE, "cpu", stop)
        sink = ReplySink(settings)

        async def scenario() -> None:
            async with running_gateway(settings) as gw:
                alice = await welcomed(gw.url, "alice", tokens["alice"])
                session = gw.by_client["alice"].session_id
                produce_decisions(settings, [decision("f-1", session_id=session)])
                # The first reply waits for the sink to join its group (slow on a busy machine).
                assert [d["frame_id"] for d in await _decisions(alice, 1, 60)] == ["f-1"]

                server.kill()
                bob = await open_session(gw.url, "bob", tokens["bob"])
                assert (await closed_with(bob))[:2] == (
                    1013, "try again later: Redis is unavailable")
                # Decided while Redis is down: the sink waits for it, the reply still comes.
                produce_decisions(settings, [decision("f-2", session_id=session)])
                await asyncio.sleep(1.0)
                server.restart_empty()
                started = time.monotonic()
                while not _rebuilt(settings, session):
                    assert time.monotonic() - started < REBUILT_WITHIN_S, "not rebuilt"
                    await asyncio.sleep(0.2)
                assert [d["frame_id"] for d in await _decisions(alice, 1)] == ["f-2"]

                # f-1 again: its reply marker died with Redis; the gateway still sends it once.
                produce_decisions(settings, [decision("f-1", session_id=session),
                                             decision("f-3", session_id=session)])
                assert [d["frame_id"] for d in await _decisions(alice, 1)] == ["f-3"]
                assert alice.close_code is None  # the session lived through it

                bob = await welcomed(gw.url, "bob", tokens["bob"])
                produce_decisions(settings, [decision(
                    "f-4", client_id="bob", session_id=gw.by_client["bob"].session_id)])
                assert [d["frame_id"] for d in await _decisions(bob, 1)] == ["f-4"]
                carol = await open_session(gw.url, "carol", tokens["carol"])
                assert (await closed_with(carol))[:2] == (1008, "blocked: lost badge")
                await alice.close()
                await bob.close()

        try:
            with running(sink, REPLIES_STAGE):
                asyncio.run(scenario())
        finally:
            stop.set()
            control.close()
            repo.close()
