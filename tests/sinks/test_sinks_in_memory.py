"""The three sinks through the in-memory harness (vigil/testing/harness.py): no broker.

The replies sink talks to a real Redis (a private redis-server of the test). The audit sink
keeps its checkpoints in the file beside the log only (no checkpoint topic without a
broker). The broker-backed tests that stay prove the wiring: test_evidence_sink.py (fetch by
offset from a real partition), test_sink_process.py (a sink process on a broker, SIGTERM),
test_audit_anchor.py (checkpoints on Kafka), tests/ingest/test_redis_restart.py (replies).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import Message
from prometheus_client import REGISTRY

from control.cluster import redis_keys as keys
from schemas.events import Action, ControlEvent, ControlKind, Decision, FrameHeaders, FrameRef
from schemas.serializers import Frame
from sinks.audit import AuditSink, audit_log_path
from sinks.audit_log import verify
from sinks.evidence import EvidenceSink
from sinks.evidence_store import read_evidence, write_evidence
from sinks.replies import ReplySink
from tests.private_redis import private_redis
from tests.sinks.conftest import NOW_MS, TEST_KEY, decision, evidence_files
from vigil.core.flow import (
    AUDIT_STAGE,
    CONTROL,
    DECISIONS,
    EVIDENCE_STAGE,
    FRAMES,
    FRAMES_DLQ,
    REPLIES_STAGE,
)
from vigil.core.settings import Settings, load_settings
from vigil.testing.harness import Harness


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Folders and the key; a Kafka address nothing listens on (nothing may use it)."""
    return load_settings(state_dir=tmp_path / "state", secret_key=TEST_KEY, namespace="t",
                         kafka_bootstrap="127.0.0.1:9")


def send_frame(harness: Harness, jpeg: bytes, frame_id: str, client_id: str = "alice"
               ) -> FrameRef:
    headers = FrameHeaders(frame_id=frame_id, client_id=client_id, session_id="s-1", seq=1,
                           captured_at=NOW_MS - 50, received_at=NOW_MS - 40)
    value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
    msg = harness.send(FRAMES, client_id, value, kafka_headers)
    return FrameRef(topic=msg.topic(), partition=msg.partition(), offset=msg.offset())


def send_decisions(harness: Harness, decisions: list[Decision]) -> None:
    for d in decisions:
        harness.send(DECISIONS, d.client_id, DECISIONS.serializer.dumps(d))


# --- evidence -------------------------------------------------------------------------------
def test_evidence_keeps_non_allow_decisions_with_their_frame_or_a_note(
        settings: Settings, jpeg: bytes) -> None:
    harness = Harness(settings)
    gone = send_frame(harness, jpeg, "frame-b1")
    kept = send_frame(harness, jpeg, "frame-a1")
    allowed = send_frame(harness, jpeg, "frame-a2")
    mismatched = send_frame(harness, jpeg, "frame-c1", client_id="bob")
    harness.topics.delete_records(FRAMES.name(settings), 0, gone.offset + 1)  # retention
    send_decisions(harness, [
        decision("frame-a1", action=Action.SIGN_OUT, ref=kept),
        decision("frame-a2", action=Action.ALLOW, ref=allowed),
        decision("frame-b1", action=Action.LOCK_SCREEN, ref=gone),
        decision("frame-b3", action=Action.BLOCK,
                 ref=FrameRef(topic="elsewhere.frames", partition=0, offset=0)),
        decision("frame-b4", ref=FrameRef(topic=gone.topic, partition=99, offset=0)),
        decision("frame-c9", client_id="bob", ref=mismatched),
    ])
    harness.send(DECISIONS, "alice", b'{"not": "a decision"}')
    old = write_evidence(settings, decision("old-1", decided_at=NOW_MS - 40 * 86_400_000),
                         None, jpeg)

    assert harness.run(EVIDENCE_STAGE, EvidenceSink(settings, harness.io)) == 7

    items = {f.name: read_evidence(settings, f) for f in evidence_files(settings)}
    assert set(items) == {"frame-a1.vgev", "frame-b1.vgev", "frame-b3.vgev", "frame-b4.vgev",
                          "frame-c9.vgev"}  # no allow; the old item purged at open
    assert not old.exists()
    a1 = items["frame-a1.vgev"]
    assert a1.jpeg == jpeg and a1.frame is not None and a1.frame.frame_id == "frame-a1"
    assert a1.decision.action is Action.SIGN_OUT and a1.note is None
    stored = next(p for p in evidence_files(settings) if p.name == "frame-a1.vgev").read_bytes()
    assert jpeg[:64] not in stored and b"frame-a1" not in stored  # encrypted at rest
    b1 = items["frame-b1.vgev"]
    assert b1.jpeg is None and "no longer in Kafka" in str(b1.note)
    assert "elsewhere.frames" in str(items["frame-b3.vgev"].note)
    assert "no such partition" in str(items["frame-b4.vgev"].note)
    c9 = items["frame-c9.vgev"]
    assert c9.jpeg is None and "frame-c1" in str(c9.note)
    # The decision that breaks the contract went to the DLQ; the batch is committed.
    [dead] = harness.records(FRAMES_DLQ)
    assert dead.value() == b'{"not": "a decision"}'
    assert harness.committed(EVIDENCE_STAGE) == {f"{DECISIONS.name(settings)}[0]": 7}

    # A replay (a fresh group) rewrites the same files: still one each, still readable.
    harness.run(EVIDENCE_STAGE, EvidenceSink(settings, harness.io), group_id="replay")
    assert {f.name for f in evidence_files(settings)} == set(items)
    assert read_evidence(settings, evidence_files(settings)[0]).decision is not None


# --- audit ----------------------------------------------------------------------------------
def control(event_id: str) -> ControlEvent:
    return ControlEvent(event_id=event_id, client_id="alice", kind=ControlKind.BLOCKED,
                        reason="test", at=NOW_MS)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def audit(settings: Settings, harness: Harness) -> AuditSink:
    return AuditSink(settings, harness.io, kafka_checkpoints=False)


def test_audit_makes_both_topics_one_chain_and_replays_add_nothing(settings: Settings) -> None:
    harness = Harness(settings)
    send_decisions(harness, [decision(f"f-{i}", client_id=f"c{i}") for i in range(4)]
                   + [decision("f-ok", action=Action.ALLOW)])
    harness.send(CONTROL, "alice", CONTROL.serializer.dumps(control("e-1")))
    harness.send(CONTROL, "alice", b'{"not": "a control event"}')
    harness.run(AUDIT_STAGE, audit(settings, harness))

    path = audit_log_path(settings)
    lines = records(path)
    assert verify(path).ok and verify(path).lines == 7
    assert sorted(line["type"] for line in lines) == ["control"] + ["decision"] * 5 + [
        "invalid"]
    assert {line["event"]["frame_id"] for line in lines if line["type"] == "decision"} == {
        "f-0", "f-1", "f-2", "f-3", "f-ok"}
    assert all({"topic", "partition", "offset", "prev", "hash"} <= line.keys()
               for line in lines)
    assert harness.committed(AUDIT_STAGE) == {f"{CONTROL.name(settings)}[0]": 2,
                                              f"{DECISIONS.name(settings)}[0]": 5}
    # A fresh group re-reads both topics from the start: the same log gains no line.
    harness.run(AUDIT_STAGE, audit(settings, harness), group_id="replay")
    assert path.read_text().count("\n") == 7 and verify(path).ok


def test_audit_crash_before_commit_replays_without_duplicates(settings: Settings) -> None:
    harness = Harness(settings)
    send_decisions(harness, [decision(f"g-{i}") for i in range(3)])
    crashing = audit(settings, harness)
    written = crashing.handle

    class Killed(BaseException):
        """A kill, not an error: no handler catches it (an error would be dead-lettered)."""

    def write_then_crash(batch: list[Message]) -> None:
        written(batch)  # lines fsynced ...
        raise Killed("killed before commit")  # ... offsets never committed

    crashing.handle = write_then_crash  # type: ignore[method-assign]
    with pytest.raises(Killed, match="killed before commit"):
        harness.run(AUDIT_STAGE, crashing)
    path = audit_log_path(settings)
    assert path.read_text().count("\n") == 3
    assert harness.committed(AUDIT_STAGE) == {}

    send_decisions(harness, [decision("g-3")])
    harness.run(AUDIT_STAGE, audit(settings, harness))
    assert [line["event"]["frame_id"] for line in records(path)] == ["g-0", "g-1", "g-2", "g-3"]
    assert verify(path).ok


# --- replies (a real Redis) -----------------------------------------------------------------
@pytest.fixture
def redis_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    with private_redis(tmp_path / "redis") as server:
        yield settings.replace(redis_url=server.url)


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("vigil_frames_dropped_total",
                                      {"stage": REPLIES_STAGE.name, "reason": reason})
    return value or 0.0


def test_replies_each_frame_once_and_locks_follow_the_client(redis_settings: Settings) -> None:
    settings = redis_settings
    ns = settings.deployment.namespace
    client = redis.Redis.from_url(settings.redis.url)
    client.hset(keys.session_key(ns, "alice"), mapping={"gateway_id": "gw-1",
                                                        "session_id": "s-1"})
    client.hset(keys.session_key(ns, "carol"), mapping={"gateway_id": "gw-2",
                                                        "session_id": "s-new"})
    pubsub = client.pubsub()
    pubsub.subscribe(keys.reply_channel(ns, "gw-1"), keys.reply_channel(ns, "gw-2"))
    before = {r: dropped(r) for r in ("no_session", "duplicate", "stale_session")}
    harness = Harness(settings)
    first = decision("h-1", client_id="alice")
    moved = decision("h-3", client_id="carol")  # a lock for carol's previous session s-1
    held = decision("h-5", client_id="bob", action=Action.SIGN_OUT)
    send_decisions(harness, [
        first,
        first,                                                    # decided twice (a replay)
        decision("h-2", client_id="bob", action=Action.ALLOW),    # no session: dropped
        held,                                                     # no session: held for bob
        held,                                                     # ...once
        moved,                                                    # to carol's session now
        decision("h-4", client_id="carol", action=Action.ALLOW),  # allow of s-1: dropped
    ])
    assert harness.run(REPLIES_STAGE, ReplySink(settings, harness.io)) == 7

    received = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg is not None:
            received.append((msg["channel"].decode(), DECISIONS.serializer.loads(msg["data"])))
    pubsub.close()
    assert received == [(keys.reply_channel(ns, "gw-1"), first),
                        (keys.reply_channel(ns, "gw-2"), moved)]
    assert 0 < client.ttl(keys.replied_key(ns, "h-1")) <= settings.sinks.reply_dedupe_ttl_s
    assert client.exists(keys.replied_key(ns, "h-2")) == 0
    held_now = client.lrange(keys.held_key(ns, "bob"), 0, -1)
    assert [DECISIONS.serializer.loads(raw) for raw in held_now] == [held]
    assert 0 < client.ttl(keys.held_key(ns, "bob")) <= settings.sinks.held_decisions_ttl_s
    assert dropped("no_session") - before["no_session"] == 1
    assert dropped("duplicate") - before["duplicate"] == 2
    assert dropped("stale_session") - before["stale_session"] == 1
    assert harness.committed(REPLIES_STAGE) == {f"{DECISIONS.name(settings)}[0]": 7}
    client.close()
