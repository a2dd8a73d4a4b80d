"""A decide worker killed between the two halves of a frame recovers the first from the
changelog: exactly one Decision, with both halves, after the restart. The client's liveness
history (the clients table) survives too: the shipped policy allows only after three live
frames, and the third comes after the restart."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas.events import Action, Reason
from tests.decide.harness import DecideWorker, DecisionReader, TopicReader, produce_results
from tests.decide.results import face_result, phone_result
from vigil.core.flow import DECIDE_CHANGELOGS, DECIDE_STAGE, FACE_RESULTS
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def committed_total(settings: Settings, topic: str) -> int:
    """Offsets the decide group committed on a topic, over all partitions."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap,
                         "group.id": DECIDE_STAGE.group(settings), "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_sigkill_between_halves_recovers_the_pending_half(
    topics: Settings, tmp_path: Path
) -> None:
    # A deadline far away: the frame can only be decided by the second half arriving.
    settings = topics.replace(decide_deadline_ms=120_000)
    before = [f"b{n}-{uuid.uuid4().hex[:8]}" for n in range(2)]
    frame_id, client = f"f-{uuid.uuid4().hex[:8]}", "c-rs"
    worker = DecideWorker(settings, tmp_path / "worker.log").start()
    try:
        produce_results(settings, [half for n, fid in enumerate(before) for half in (
            face_result(fid, client, seq=n), phone_result(fid, client, seq=n))])
        first = DecisionReader(settings)
        try:
            held = first.wait_for(before, timeout_s=60)[before[1]]
        finally:
            first.close()
        assert (held.action, held.reason) == (Action.LOCK_SCREEN, Reason.OK)
        assert (held.scores["live_frames"], held.scores["live_frames_needed"]) == (2, 3)
        produce_results(settings, [face_result(frame_id, client, seq=2)])
        changelog = TopicReader(settings, DECIDE_CHANGELOGS[0].name(settings))
        try:
            assert changelog.wait_until(
                lambda: any(json.loads(m.key()) == frame_id for m in changelog.messages), 60
            ), "the face half never reached the pending changelog"
        finally:
            changelog.close()
        # With the offset committed, a restart cannot re-read the face half from its topic:
        # it can only come back from the changelog.
        wait_for(lambda: committed_total(settings, FACE_RESULTS.name(settings)) >= 3, 30,
                 "the face-results offsets to be committed")
        worker.kill()

        worker = DecideWorker(settings, tmp_path / "worker.log").start()
        produce_results(settings, [phone_result(frame_id, client, seq=2)])
        reader = DecisionReader(settings)
        try:
            # A restarted worker rejoins the group and restores its tables from the changelogs
            # first: a minute or more on a loaded two-core machine (it once missed 60 s).
            decision = reader.wait_for([frame_id], timeout_s=180)[frame_id]
            reader.poll_for(2.0)
            assert len(reader.decisions(frame_id)) == 1
        finally:
            reader.close()
        # Allowed: the third live frame, counted on top of the recovered history.
        assert (decision.action, decision.reason, decision.missing) == (
            Action.ALLOW, Reason.OK, [])
        assert decision.scores["liveness"] > 0  # the recovered face half was used
    finally:
        if worker.alive():
            assert worker.stop() == 0, worker.log_text()[-3000:]
