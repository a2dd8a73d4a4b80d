"""A stopping gateway answers the frames it took before it closes their sessions."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from control.cluster import redis_keys as keys
from ingest.gateway import Gateway
from schemas.events import Action, Decision, FrameRef, Reason
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import JPEG, add_client, closed_with, expect, welcomed
from vigil.core.flow import DECISIONS
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def test_stop_waits_for_frames_in_flight_and_refuses_new_ones(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings(gateway_drain_s=30.0)
    token = add_client(settings, "alice")

    async def scenario() -> float:
        gw = Gateway(settings)
        await gw.start()
        ws = await welcomed(gw.url, "alice", token)
        await ws.send(json.dumps({"type": "frame", "seq": 1, "captured_at": 1}))
        await ws.send(JPEG)
        session = gw.by_client["alice"]
        while not session.in_flight:
            await asyncio.sleep(0.05)
        frame_id = next(iter(session.in_flight))
        stopping = asyncio.create_task(gw.stop())
        await asyncio.sleep(0.3)
        await ws.send(json.dumps({"type": "frame", "seq": 2, "captured_at": 2}))
        await ws.send(JPEG)
        refused = await expect(ws, "error")
        assert (refused["code"], refused["seq"]) == ("shutting_down", 2)

        decision = Decision(
            frame_id=frame_id, client_id="alice", session_id=session.session_id, seq=1,
            frame=FrameRef(topic="t.frames", partition=0, offset=0), captured_at=1,
            received_at=2, decided_at=3, action=Action.ALLOW, reason=Reason.OK,
            policy_version="p")
        await gw.redis.publish(keys.reply_channel(settings.deployment.namespace, gw.gateway_id),
                               DECISIONS.serializer.dumps(decision))
        answered = time.monotonic()
        assert (await expect(ws, "decision"))["seq"] == 1
        code, reason, _ = await closed_with(ws, timeout_s=10)
        assert (code, reason) == (1001, "the gateway is stopping")
        await stopping
        return time.monotonic() - answered

    # Closed once nothing is in flight, not after the whole drain time.
    assert asyncio.run(scenario()) < 10.0
