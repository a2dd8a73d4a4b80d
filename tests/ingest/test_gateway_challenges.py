"""Step-up challenges through the gateway: the message, and an old client that ignores it."""

from __future__ import annotations

import asyncio
import json

import pytest

from control.cluster import redis_keys as keys
from ingest.gateway import Gateway
from schemas.events import (
    Action,
    ChallengeKind,
    ChallengeProgress,
    ChallengeState,
    Decision,
    FrameRef,
    Reason,
    now_ms,
)
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import JPEG, add_client, expect, running_gateway, welcomed
from vigil.core.settings import Settings
from vigil.core.topics import DECISIONS

pytestmark = pytest.mark.integration


def decision(gw: Gateway, seq: int, session_id: str, state: ChallengeState, issued: bool,
             action: Action = Action.LOCK_SCREEN, reason: Reason = Reason.OK) -> Decision:
    at = now_ms()
    return Decision(
        frame_id=f"f{seq}-{session_id}", client_id="alice", session_id=session_id, seq=seq,
        frame=FrameRef(topic="t", partition=0, offset=seq), captured_at=at, received_at=at,
        decided_at=at, action=action, reason=reason, policy_version="p",
        gateway_id=gw.gateway_id,
        challenge=ChallengeProgress(id="ch-1", action=ChallengeKind.TURN_RIGHT, state=state,
                                    issued=issued, trigger="session_start",
                                    deadline_at=at + 8000, deadline_ms=8000))


async def publish(gw: Gateway, settings: Settings, event: Decision) -> None:
    await gw.redis.publish(keys.reply_channel(settings.deployment.namespace, gw.gateway_id),
                           DECISIONS.serializer.dumps(event))


def test_the_challenge_message_comes_before_the_decision_that_asks_it(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings()
    token = add_client(settings, "alice")

    async def scenario() -> list[dict[str, object]]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await ws.send(JPEG)
            session_id = gw.by_client["alice"].session_id
            await publish(gw, settings, decision(gw, 1, session_id, ChallengeState.PENDING,
                                                 issued=True))
            got = [await expect(ws, "challenge"), await expect(ws, "decision")]
            await ws.close()
            return got

    challenge, first = asyncio.run(scenario())
    assert challenge["id"] == "ch-1" and challenge["action"] == "turn_right"
    assert isinstance(challenge["deadline_ms"], int) and 0 < challenge["deadline_ms"] <= 8000
    assert first["challenge"] == {"id": "ch-1", "action": "turn_right", "state": "pending",
                                  "progress": 0.0, "detail": ""}


def test_an_old_client_that_never_reads_challenges_keeps_working(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    """A client written before challenges: it reads every message but acts on decisions
    only, keeps sending frames, and its session goes on through the challenge's end."""
    settings = make_gateway_settings()
    token = add_client(settings, "alice")

    async def scenario() -> tuple[list[str], list[tuple[str, str]], bool]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            session_id = gw.by_client["alice"].session_id
            kinds: list[str] = []
            acted: list[tuple[str, str]] = []
            states = [(ChallengeState.PENDING, True, Action.LOCK_SCREEN, Reason.OK),
                      (ChallengeState.PENDING, False, Action.LOCK_SCREEN, Reason.OK),
                      (ChallengeState.EXPIRED, False, Action.LOCK_SCREEN,
                       Reason.CHALLENGE_TIMEOUT)]
            for seq, (state, issued, action, reason) in enumerate(states, start=1):
                await ws.send(json.dumps({"type": "frame", "seq": seq, "captured_at": 1}))
                await ws.send(JPEG)
                await publish(gw, settings, decision(gw, seq, session_id, state, issued,
                                                     action, reason))
                while True:  # the old client's loop: unknown types are skipped
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    kinds.append(message["type"])
                    if message["type"] == "decision":
                        acted.append((message["action"], message["reason"]))
                        break
            await ws.send(JPEG)  # still open after the challenge ended
            await asyncio.sleep(0.3)
            still_open = ws.close_code is None and "alice" in gw.by_client
            await ws.close()
            return kinds, acted, still_open

    kinds, acted, still_open = asyncio.run(scenario())
    assert kinds == ["challenge", "decision", "decision", "decision"]
    assert acted[-1] == ("lock_screen", "challenge_timeout")
    assert still_open
