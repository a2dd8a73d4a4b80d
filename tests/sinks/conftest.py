"""Helpers of the sink tests: events, producing, and running a sink on a thread."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from schemas.events import Action, Decision, FrameHeaders, FrameRef, Reason
from schemas.serializers import Frame
from tests.conftest import TESTDATA, Infra, make_settings
from vigil.apps.run_stage import consumer_stage
from vigil.core.flow import DECISIONS, FRAMES
from vigil.core.flow_types import Handler, Stage, StageIO, Topic
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings

JPEG_PATH = TESTDATA / "spoof" / "image_F1.jpg"
TEST_KEY = base64.b64encode(bytes(range(32))).decode()
NOW_MS = int(time.time() * 1000)


def decision(frame_id: str, client_id: str = "alice", action: Action = Action.LOCK_SCREEN,
             ref: FrameRef | None = None, decided_at: int = NOW_MS,
             session_id: str = "s-1") -> Decision:
    """A Decision with plausible fields; ref defaults to frames[0]@0 of namespace t."""
    reason = Reason.OK if action is Action.ALLOW else Reason.SPOOF
    return Decision(
        frame_id=frame_id, client_id=client_id, session_id=session_id, seq=1,
        frame=ref or FrameRef(topic="t.frames", partition=0, offset=0),
        captured_at=decided_at - 50, received_at=decided_at - 40, decided_at=decided_at,
        action=action, reason=reason, scores={"liveness": 0.12}, policy_version="p1",
    )


@pytest.fixture
def jpeg() -> bytes:
    return JPEG_PATH.read_bytes()


@pytest.fixture
def sink_settings(infra: Infra, namespace: str, tmp_path: Path, weights_dir: Path) -> Settings:
    """Test settings with an encryption key, after the namespace's topics were created."""
    from vigil.core.topics import create_topics

    settings = make_settings(infra, namespace, tmp_path / "state", weights_dir,
                             secret_key=TEST_KEY, frame_fetch_timeout_s=10.0)
    create_topics(settings)
    return settings


@pytest.fixture
def offline_settings(tmp_path: Path) -> Settings:
    """Settings for the tests that need no broker (folders and the key only)."""
    from vigil.core.settings import load_settings

    return load_settings(state_dir=tmp_path / "state", secret_key=TEST_KEY)


def produce_frame(settings: Settings, jpeg: bytes, frame_id: str,
                  client_id: str = "alice") -> FrameRef:
    """Produce one frame with its headers; returns where it landed."""
    headers = FrameHeaders(frame_id=frame_id, client_id=client_id, session_id="s-1", seq=1,
                           captured_at=NOW_MS - 50, received_at=NOW_MS - 40)
    value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
    landed: list[FrameRef] = []
    producer = make_producer(settings)
    producer.produce(FRAMES.name(settings), key=client_id, value=value,
                     headers=kafka_headers,
                     on_delivery=lambda err, msg: landed.append(FrameRef(
                         topic=msg.topic(), partition=msg.partition(), offset=msg.offset()))
                     if err is None else None)
    assert producer.flush(30) == 0
    assert len(landed) == 1
    return landed[0]


def produce(settings: Settings, topic: Topic[Any], values: list[tuple[str, bytes]]) -> None:
    """Produce (key, value) records to a topic of the namespace and wait for delivery."""
    producer = make_producer(settings)
    errors: list[object] = []
    for key, value in values:
        producer.produce(topic.name(settings), key=key, value=value,
                         on_delivery=lambda err, _m: errors.append(err) if err else None)
    assert producer.flush(30) == 0
    assert errors == []


def produce_decisions(settings: Settings, decisions: list[Decision]) -> None:
    produce(settings, DECISIONS,
            [(d.client_id, DECISIONS.serializer.dumps(d)) for d in decisions])


def committed_to_end(settings: Settings, group_id: str, topics: list[Topic[Any]]) -> bool:
    """Whether the group committed every partition of the topics up to its end."""
    probe = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": group_id})
    try:
        parts = [TopicPartition(t.name(settings), p)
                 for t in topics for p in range(settings.kafka.partitions)]
        committed = {(tp.topic, tp.partition): tp.offset
                     for tp in probe.committed(parts, timeout=10)}
        for tp in parts:
            _low, high = probe.get_watermark_offsets(tp, timeout=10, cached=False)
            if high > 0 and committed[(tp.topic, tp.partition)] < high:
                return False
        return True
    except KafkaException:  # the group coordinator is still loading: not yet
        return False
    finally:
        probe.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0,
             thread: threading.Thread | None = None) -> None:
    """Poll condition until true; fail at the deadline, or at once if thread has died."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if thread is not None and not thread.is_alive():
            raise AssertionError("the sink thread ended before the condition was met")
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(0.3)


@contextmanager
def running(sink: Handler, entry: Stage, group_id: str | None = None,
            timeout_s: float = 30.0) -> Iterator[threading.Thread]:
    """Run the sink in the runner's consumer loop (its table entry's; ``group_id`` for the
    test's own group) on a thread; on exit stop it and join it (bounded)."""
    errors: list[BaseException] = []
    io = StageIO(stop=sink.stop)  # type: ignore[attr-defined]
    stage = consumer_stage(entry, sink.settings, sink, io, group_id)  # type: ignore[attr-defined]

    def target() -> None:
        try:
            stage.run()
        except BaseException as exc:  # re-raised in the test below
            errors.append(exc)

    thread = threading.Thread(target=target, name="sink-under-test", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stage.stop()
        thread.join(timeout_s)
    assert not thread.is_alive(), "sink did not stop within its bound"
    if errors:
        raise errors[0]


def evidence_files(settings: Settings) -> list[Path]:
    return sorted((settings.deployment.state_dir / "evidence").rglob("*.vgev"))


def env_of(settings: Settings) -> dict[str, str]:
    """Environment for a subprocess running with the same settings."""
    return {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
            "VIGIL_REDIS_URL": settings.redis.url, "VIGIL_NAMESPACE": settings.deployment.namespace,
            "VIGIL_STATE_DIR": str(settings.deployment.state_dir), "VIGIL_PARTITIONS": "4"}
