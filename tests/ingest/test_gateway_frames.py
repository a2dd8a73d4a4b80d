"""The frame path: frames on Kafka with every header, decisions back, errors and limits."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from confluent_kafka import Message
from prometheus_client import REGISTRY

from control.cluster import redis_keys as keys
from schemas.events import Action, Decision, FrameRef, Reason
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import (
    JPEG,
    add_client,
    closed_with,
    expect,
    next_message,
    running_gateway,
    welcomed,
)
from vigil.core.flow import DECISIONS, FRAMES
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def consume_frames(settings: Settings, count: int, timeout_s: float = 20.0) -> list[Message]:
    consumer = make_consumer(settings, f"{settings.deployment.namespace}-check")
    consumer.subscribe([FRAMES.name(settings)])
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                found.append(msg)
    finally:
        consumer.close()
    return found


def text_headers(msg: Message) -> dict[str, str]:
    pairs = msg.headers() or []
    assert isinstance(pairs, list)
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in pairs}


def test_frames_reach_kafka_with_all_headers_and_decisions_come_back(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings()
    token = add_client(settings, "alice")

    async def scenario() -> tuple[str, dict[str, object]]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await ws.send(json.dumps({"type": "frame", "seq": 7, "captured_at": 1234}))
            await ws.send(JPEG)
            await ws.send(JPEG)  # no frame message: the server's count (2nd frame)
            await asyncio.sleep(0.5)
            frames = await asyncio.to_thread(consume_frames, settings, 2)
            first = FRAMES.serializer.loads(frames[0].value(), frames[0].headers())
            where = (frames[0].topic(), frames[0].partition(), frames[0].offset())
            assert None not in where
            decision = Decision(
                frame_id=first.headers.frame_id, client_id="alice",
                session_id=first.headers.session_id, seq=7,
                frame=FrameRef(topic=str(where[0]), partition=int(where[1] or 0),
                               offset=int(where[2] or 0)),
                captured_at=1234, received_at=first.headers.received_at,
                decided_at=first.headers.received_at + 5, action=Action.LOCK_SCREEN,
                reason=Reason.WRONG_USER, scores={"distance": 1.3}, policy_version="p",
                gateway_id=gw.gateway_id)
            await gw.redis.publish(keys.reply_channel(settings.deployment.namespace, gw.gateway_id),
                                   DECISIONS.serializer.dumps(decision))
            reply = await expect(ws, "decision")
            await ws.close()
            headers = [text_headers(m) for m in frames]
            assert [m.key() for m in frames] == [b"alice", b"alice"]
            assert frames[0].value() == JPEG
            assert headers[1]["seq"] == "2"
            return first.headers.frame_id, {"headers": headers[0], "reply": reply}

    frame_id, seen = asyncio.run(scenario())
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert set(headers) == {"frame_id", "client_id", "session_id", "seq", "captured_at",
                            "received_at", "content_type", "schema_version"}
    assert (headers["client_id"], headers["seq"], headers["captured_at"],
            headers["content_type"], headers["schema_version"]) == (
        "alice", "7", "1234", "image/jpeg", "1")
    assert seen["reply"] == {"type": "decision", "frame_id": frame_id,
                             "session_id": headers["session_id"], "seq": 7,
                             "action": "lock_screen", "reason": "wrong_user",
                             "scores": {"distance": 1.3},
                             "decided_at": int(headers["received_at"]) + 5}


def test_bad_image_and_unknown_message_do_not_end_the_session(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings()
    token = add_client(settings, "alice")

    async def scenario() -> list[dict[str, object]]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await ws.send(b"GIF89a not a jpeg")
            await ws.send(json.dumps({"type": "dance"}))
            await ws.send(json.dumps({"type": "frame", "seq": -1, "captured_at": 1}))
            replies = [await next_message(ws) for _ in range(3)]
            await ws.send(JPEG)  # still open: this frame is produced
            assert len(await asyncio.to_thread(consume_frames, settings, 1)) == 1
            await ws.close()
            return replies

    replies = asyncio.run(scenario())
    assert [(r["type"], r["code"]) for r in replies] == [
        ("error", "bad_image"), ("error", "unknown_message"), ("error", "bad_message")]


def test_oversize_frame_closes_1009(make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(max_frame_bytes=4096)
    token = add_client(settings, "alice")

    async def scenario() -> int | None:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await ws.send(b"\xff\xd8\xff" + bytes(5000))
            code, _reason, _ = await closed_with(ws)
            return code

    before = REGISTRY.get_sample_value("vigil_frames_dropped_total",
                                       {"stage": "gateway", "reason": "too_big"}) or 0.0
    assert asyncio.run(scenario()) == 1009
    assert REGISTRY.get_sample_value("vigil_frames_dropped_total",
                                     {"stage": "gateway", "reason": "too_big"}) == before + 1


def test_frames_over_the_rate_or_in_flight_limit_are_dropped(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings(max_fps=3, max_in_flight=100)
    token = add_client(settings, "alice")

    async def burst(max_in_flight: int, count: int) -> list[dict[str, object]]:
        local = make_gateway_settings(max_fps=100, max_in_flight=max_in_flight) \
            if max_in_flight else settings
        async with running_gateway(local) as gw:
            ws = await welcomed(gw.url, "alice", token)
            for _ in range(count):
                await ws.send(JPEG)
            errors: list[dict[str, object]] = []
            with pytest.raises(TimeoutError):
                while len(errors) < count:
                    errors.append(await next_message(ws, timeout_s=1.0))
            await ws.close()
            return errors

    by_rate = asyncio.run(burst(0, 5))  # burst of 3 allowed at 3 fps
    assert [(e["type"], e["code"], e["seq"]) for e in by_rate] == [
        ("error", "rate_limited", 4), ("error", "rate_limited", 5)]  # each names its frame
    by_flight = asyncio.run(burst(2, 4))  # no decisions come back: 2 stay in flight
    assert [(e["type"], e["code"]) for e in by_flight] == [("error", "rate_limited")] * 2
    assert "wait for a decision" in str(by_flight[0]["message"])
