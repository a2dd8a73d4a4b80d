"""Soak: hostile connections hammer a real gateway while a well-behaved client streams.

The downstream (processors, decide, replies sink) is stood in for by a consumer of the
``frames`` topic that answers every frame with an ``allow`` decision on the reply channel of
the gateway, as the replies sink does. Hostile traffic, all at once with the good client:
malformed hellos, binary before hello, silence, a message over max_frame_bytes, wrong
tokens, and an admitted client sending non-JPEG, truncated JPEG, unknown and malformed text.
Bounded: a fixed number of rounds, every wait with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from control.cluster import redis_keys as keys
from schemas.events import Action, Decision, FrameHeaders, FrameRef, Reason, now_ms
from schemas.serializers import ContractError
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import JPEG, add_client, closed_with, running_gateway, welcomed
from vigil.core.flow import DECISIONS, FRAMES
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration

GOOD_FRAMES = 60  # at 20 frames a second: 3 s of streaming
ROUNDS = 5  # of each kind of hostile connection
WRONG_TOKENS = 3  # under auth_failure_limit (5), which would refuse every hello from 127.0.0.1
HUGE_INT = "1" * 5000
BAD_HELLOS = ["not json", "[1, 2]", '{"type": "frame"}', "[" * 50_000,
              '{"type": "hello", "protocol": 2, "client_id": "a", "token": "t"}',
              '{"type": "hello", "protocol": 1, "client_id": "../etc", "token": "t"}',
              '{"type": "hello", "protocol": ' + HUGE_INT + "}"]
# What an admitted hostile client sends, and the error each one must get back (None: none).
MALFORMED: list[tuple[str | bytes, str | None]] = [
    (b"GIF89a not a jpeg", "bad_image"),
    (bytes(300), "bad_image"),
    (JPEG[:200], None),  # starts like a JPEG: the gateway produces it, the processors judge it
    ('{"type": "dance"}', "unknown_message"),
    ('{"type": "frame", "seq": -1, "captured_at": 1}', "bad_message"),
    ('{"type": "frame", "seq": ' + HUGE_INT + ', "captured_at": 1}', "bad_message"),
    ("[" * 50_000, "bad_message"),
]


class Downstream:
    """Answers every frame on Kafka with an allow decision on the gateway's reply channel."""

    def __init__(self, settings: Settings, gateway_id: str) -> None:
        self.settings, self.gateway_id = settings, gateway_id
        self.frames: list[FrameHeaders] = []
        self.broken = 0
        self.stop = threading.Event()
        self.assigned = threading.Event()
        self.consumer = make_consumer(settings, f"{settings.deployment.namespace}-downstream")
        self.consumer.subscribe([FRAMES.name(settings)],
                                on_assign=lambda _c, _p: self.assigned.set())
        self.redis = redis.Redis.from_url(settings.redis.url)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        # Until the group is joined no frame is answered, and the in-flight limit would
        # drop the good client's frames for a reason that is not the hostile traffic.
        assert self.assigned.wait(30), "the downstream consumer was not assigned in 30 s"

    def _run(self) -> None:
        channel = keys.reply_channel(self.settings.deployment.namespace, self.gateway_id)
        while not self.stop.is_set():
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            try:
                frame = FRAMES.serializer.loads(msg.value(), msg.headers())
            except ContractError:
                self.broken += 1
                continue
            self.frames.append(h := frame.headers)
            decision = Decision(
                frame_id=h.frame_id, client_id=h.client_id, session_id=h.session_id, seq=h.seq,
                frame=FrameRef(topic=str(msg.topic()), partition=int(msg.partition() or 0),
                               offset=int(msg.offset() or 0)),
                captured_at=h.captured_at, received_at=h.received_at, decided_at=now_ms(),
                action=Action.ALLOW, reason=Reason.OK, policy_version="soak",
                gateway_id=self.gateway_id)
            self.redis.publish(channel, DECISIONS.serializer.dumps(decision))
        self.consumer.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        self.redis.close()


async def stream_well(url: str, token: str) -> tuple[list[int], list[dict[str, Any]]]:
    """Stream GOOD_FRAMES numbered frames, reading while sending; (decided seqs, others)."""
    ws = await welcomed(url, "alice", token)
    decided: list[int] = []
    others: list[dict[str, Any]] = []

    async def read() -> None:
        async for raw in ws:
            message = json.loads(raw)
            (decided.append(message["seq"]) if message["type"] == "decision"
             else others.append(message))
            if len(decided) == GOOD_FRAMES:
                return

    reader = asyncio.create_task(read())
    for seq in range(1, GOOD_FRAMES + 1):
        await ws.send(json.dumps({"type": "frame", "seq": seq, "captured_at": now_ms()}))
        await ws.send(JPEG)
        await asyncio.sleep(0.05)
    await asyncio.wait({reader}, timeout=30)  # the assertions then say what was missing
    reader.cancel()
    await ws.close()
    return decided, others


async def close_code(url: str, first: str | bytes | None) -> int | None:
    """Open a connection, send ``first`` (None: nothing), return the server's close code."""
    ws = await connect(url, open_timeout=10, max_size=2**22)
    if first is not None:
        with contextlib.suppress(ConnectionClosed):  # the server may close mid-send
            await ws.send(first)
    code, _reason, _messages = await closed_with(ws, timeout_s=10)
    return code


async def hostile_client(url: str, token: str, too_big: str) -> tuple[list[str | None], int | None]:
    """One admitted session sending MALFORMED, then a message over the limit."""
    ws: ClientConnection = await welcomed(url, "mallory", token)
    for message, _expected in MALFORMED:
        await ws.send(message)
    errors: list[str | None] = []
    deadline = time.monotonic() + 10
    while len(errors) < sum(1 for _, e in MALFORMED if e) and time.monotonic() < deadline:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply["type"] == "error":
            errors.append(reply["code"])
    with contextlib.suppress(ConnectionClosed):  # the server may close mid-send
        await ws.send(too_big)
    code, _reason, _rest = await closed_with(ws, timeout_s=10)
    return errors, code


def test_hostile_traffic_costs_the_well_behaved_client_nothing(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings(max_fps=50, max_clients_per_pipeline=8)
    good, bad = add_client(settings, "alice"), add_client(settings, "mallory")
    too_big = "x" * (settings.gateway.max_frame_bytes + 1)

    async def scenario() -> dict[str, Any]:
        async with running_gateway(settings) as gw:
            downstream = await asyncio.to_thread(Downstream, settings, gw.gateway_id)
            try:
                async def rounds(make: Any, count: int) -> list[Any]:
                    return [await make() for _ in range(count)]

                results = await asyncio.wait_for(asyncio.gather(
                    stream_well(gw.url, good),
                    rounds(lambda: asyncio.gather(*[close_code(gw.url, h)
                                                    for h in BAD_HELLOS]), ROUNDS),
                    rounds(lambda: close_code(gw.url, JPEG), ROUNDS),
                    rounds(lambda: close_code(gw.url, None), ROUNDS),
                    rounds(lambda: close_code(gw.url, too_big), ROUNDS),
                    rounds(lambda: close_code(gw.url, json.dumps(
                        {"type": "hello", "protocol": 1, "client_id": "alice",
                         "token": "wrong"})), WRONG_TOKENS),
                    rounds(lambda: hostile_client(gw.url, bad, too_big), ROUNDS),
                ), timeout=60)
                again = await welcomed(gw.url, "alice", good)  # the gateway still admits
                await again.close()
            finally:
                await asyncio.to_thread(downstream.close)
            return {"good": results[0], "hellos": results[1], "binary": results[2],
                    "silent": results[3], "huge": results[4], "tokens": results[5],
                    "admitted": results[6], "frames": downstream.frames,
                    "broken": downstream.broken}

    seen = asyncio.run(scenario())
    decided, others = seen["good"]
    alice = [h for h in seen["frames"] if h.client_id == "alice"]
    hostile = (ROUNDS * (len(BAD_HELLOS) + 4) + WRONG_TOKENS)
    print(f"soak: alice sent {GOOD_FRAMES} frames, got {len(decided)} decisions, "
          f"{len(others)} other messages; {hostile} hostile connections, "
          f"{ROUNDS * (len(MALFORMED) + 1)} malformed messages in admitted sessions")

    assert sorted(decided) == list(range(1, GOOD_FRAMES + 1))  # each frame once, none lost
    assert others == []
    assert [h.seq for h in alice] == list(range(1, GOOD_FRAMES + 1))
    assert len({h.session_id for h in alice}) == 1
    assert {h.content_type for h in alice} == {"image/jpeg"} and seen["broken"] == 0
    assert seen["hellos"] == [[1002] * len(BAD_HELLOS)] * ROUNDS
    assert seen["binary"] == [1002] * ROUNDS and seen["silent"] == [1002] * ROUNDS
    assert seen["huge"] == [1009] * ROUNDS and seen["tokens"] == [1008] * WRONG_TOKENS
    expected_errors = [e for _, e in MALFORMED if e]
    assert seen["admitted"] == [(expected_errors, 1009)] * ROUNDS
    truncated = [h for h in seen["frames"] if h.client_id == "mallory"]
    assert len(truncated) == ROUNDS  # produced, for the processors to dead-letter or judge
