"""The audit sink against a real broker: both topics chained, replays and crashes dedupe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Message

from schemas.events import Action, ControlEvent, ControlKind
from sinks.audit import AuditSink, audit_log_path
from sinks.audit_log import verify
from tests.sinks.conftest import (
    NOW_MS,
    committed_to_end,
    decision,
    produce,
    produce_decisions,
    running,
    wait_for,
)
from vigil.core.flow import CONTROL, DECISIONS
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration
TOPICS = [DECISIONS, CONTROL]


def control(event_id: str, kind: ControlKind = ControlKind.BLOCKED) -> ControlEvent:
    return ControlEvent(event_id=event_id, client_id="alice", kind=kind, reason="test",
                        at=NOW_MS)


def run_until_committed(settings: Settings, group: str) -> None:
    sink = AuditSink(settings, group_id=group)
    with running(sink) as thread:
        wait_for(lambda: committed_to_end(settings, group, TOPICS), 45, thread)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_both_topics_become_one_chain_and_replays_add_nothing(
    sink_settings: Settings, group_id: str,
) -> None:
    produce_decisions(sink_settings, [decision(f"f-{i}", client_id=f"c{i}") for i in range(4)]
                      + [decision("f-ok", action=Action.ALLOW)])
    produce(sink_settings, CONTROL, [("alice", CONTROL.serializer.dumps(control("e-1"))),
                                           ("alice", b'{"not": "a control event"}')])
    run_until_committed(sink_settings, group_id)

    path = audit_log_path(sink_settings)
    lines = records(path)
    assert len(lines) == 7
    assert verify(path).ok and verify(path).lines == 7
    by_type = sorted(line["type"] for line in lines)
    assert by_type == ["control"] + ["decision"] * 5 + ["invalid"]
    decided = {line["event"]["frame_id"] for line in lines if line["type"] == "decision"}
    assert decided == {"f-0", "f-1", "f-2", "f-3", "f-ok"}
    assert all({"topic", "partition", "offset", "prev", "hash"} <= line.keys()
               for line in lines)

    # A fresh group re-reads both topics from the start: the same log gains no line.
    run_until_committed(sink_settings, f"{group_id}-replay")
    assert path.read_text().count("\n") == 7
    assert verify(path).ok


def test_crash_before_commit_replays_without_duplicates(
    sink_settings: Settings, group_id: str,
) -> None:
    produce_decisions(sink_settings, [decision(f"g-{i}", client_id="alice") for i in range(3)])
    crashing = AuditSink(sink_settings, group_id=group_id)
    written = crashing.handle

    def write_then_crash(batch: list[Message]) -> None:
        written(batch)  # lines fsynced ...
        raise RuntimeError("killed before commit")  # ... offsets never committed

    crashing.loop.handle = write_then_crash
    with pytest.raises(RuntimeError, match="killed before commit"), running(crashing) as thread:
        thread.join(45)
    path = audit_log_path(sink_settings)
    before = path.read_text().count("\n")
    assert before >= 1
    assert not committed_to_end(sink_settings, group_id, [DECISIONS])

    produce_decisions(sink_settings, [decision("g-3", client_id="alice")])
    run_until_committed(sink_settings, group_id)
    frames = [line["event"]["frame_id"] for line in records(path)]
    assert frames == ["g-0", "g-1", "g-2", "g-3"]
    assert verify(path).ok
