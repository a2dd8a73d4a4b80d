"""Anchored audit: keyed checkpoints catch a cut tail and a rewritten chain.

The chain alone cannot see either (the first tests show that it passes them); the checkpoint
file, and the checkpoint on Kafka when the file is gone too, can.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sinks.audit import AuditSink, audit_log_path
from sinks.audit_anchor import CheckpointWriter, checkpoint_file, mac_key, open_anchored
from sinks.audit_log import AuditError, AuditLog, canonical, line_hash, verify
from sinks.audit_verify import reanchor, verify_anchored
from tests.sinks.conftest import (
    TEST_KEY,
    committed_to_end,
    decision,
    produce_decisions,
    running,
    wait_for,
)
from tests.sinks.test_audit_log import entry, lines_of, rewrite
from vigil.apps.cli import main
from vigil.core.flow import AUDIT_STAGE, CONTROL, DECISIONS
from vigil.core.settings import Settings

OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.fixture
def anchored(offline_settings: Settings) -> Path:
    """A log of 6 lines, checkpointed after 4 and after 6 (two batches)."""
    path = audit_log_path(offline_settings)
    log = AuditLog(path)
    writer = CheckpointWriter(offline_settings, path, mac_key(offline_settings, create=True),
                              None)
    log.append([entry(i) for i in range(4)])
    writer.record(log)
    log.append([entry(i) for i in range(4, 6)])
    writer.record(log)
    log.close()
    return path


def verify_cli(settings: Settings, path: Path, capsys: pytest.CaptureFixture[str]
               ) -> tuple[int, str]:
    code = main(["audit", "verify", "--file", str(path), "--no-kafka"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_intact_log_passes_and_names_its_checkpoint(
        offline_settings: Settings, anchored: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.ok and verdict.last_good is not None
    assert verdict.last_good.checkpoint.lines == 6
    monkeypatch.setenv("VIGIL_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv("VIGIL_STATE_DIR", str(offline_settings.state_dir))
    code, text = verify_cli(offline_settings, anchored, capsys)
    assert code == 0
    assert "intact: 6 lines; last good checkpoint: line 6 (hash " in text
    assert f"from file {checkpoint_file(anchored)}" in text


def test_lines_cut_from_the_end_are_detected(offline_settings: Settings, anchored: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rewrite(anchored, lines_of(anchored)[:4])
    assert verify(anchored).ok  # the chain alone cannot tell
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert not verdict.ok and verdict.last_good is None
    assert verdict.problem is not None
    assert "the log has 4 lines" in verdict.problem and "says 6" in verdict.problem
    assert "cut from the end" in verdict.problem
    monkeypatch.setenv("VIGIL_SECRET_KEY", TEST_KEY)
    code, text = verify_cli(offline_settings, anchored, capsys)
    assert code == 1 and "NOT intact" in text and "last good checkpoint: none" in text


def test_an_edit_with_the_whole_chain_recomputed_is_detected(
        offline_settings: Settings, anchored: Path) -> None:
    lines, prev, rebuilt = lines_of(anchored), None, []
    for number, raw in enumerate(lines, start=1):
        fields = json.loads(raw)
        if number == 3:
            fields["event"]["action"] = "allow"
        if prev is not None:
            fields["prev"] = prev
        fields["hash"] = line_hash(fields)
        prev = fields["hash"]
        rebuilt.append(canonical(fields) + b"\n")
    rewrite(anchored, rebuilt)
    assert verify(anchored).ok  # a consistent chain: only the keyed checkpoint differs
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.problem is not None and "line 6 differs from the checkpoint" in verdict.problem


def test_a_checkpoint_made_without_the_key_is_refused(
        offline_settings: Settings, anchored: Path) -> None:
    rewrite(anchored, lines_of(anchored)[:4])
    forger = offline_settings.model_copy(update={"secret_key": None,
                                                 "state_dir": anchored.parent / "forger"})
    log = AuditLog(anchored)
    CheckpointWriter(forger, anchored, mac_key(forger, create=True), None).record(log)
    log.close()
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.problem is not None and "no valid MAC" in verdict.problem


def test_a_removed_checkpoint_file_fails_the_log(offline_settings: Settings,
                                                 anchored: Path) -> None:
    rewrite(anchored, lines_of(anchored)[:4])
    checkpoint_file(anchored).unlink()
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.problem is not None and "no checkpoint found" in verdict.problem


def test_the_sink_refuses_to_continue_a_cut_log(offline_settings: Settings,
                                                anchored: Path) -> None:
    rewrite(anchored, lines_of(anchored)[:5])
    with pytest.raises(AuditError, match=r"refusing to continue .* has 5 lines, the checkpoint "
                                         r"from file .* says 6"):
        open_anchored(offline_settings, anchored, mac_key(offline_settings), None)
    # The log was not taken: a second open is not refused as "in use".
    with pytest.raises(AuditError, match="refusing"):
        open_anchored(offline_settings, anchored, mac_key(offline_settings), None)


def test_access_lines_between_checkpoints_are_continued_and_then_covered(
        offline_settings: Settings, anchored: Path) -> None:
    console = AuditLog(anchored, owner=False)  # the auditor console, while no sink runs
    console.append([{"type": "access", "event": {"auditor": "ann", "frame_id": "f-1"}}])
    key = mac_key(offline_settings)
    sink_log, writer = open_anchored(offline_settings, anchored, key, None)
    assert sink_log.lines == 7  # the checkpoint at 6 still holds
    console.append([{"type": "access", "event": {"auditor": "ann", "frame_id": "f-2"}}])
    sink_log.append([entry(6)])  # continues after the console's second line
    assert writer.record(sink_log) is not None and sink_log.lines == 9
    console.close()
    sink_log.close()
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.ok and verdict.last_good is not None
    assert verdict.last_good.checkpoint.lines == 9


@pytest.mark.integration
def test_the_kafka_checkpoint_catches_a_cut_when_the_file_is_gone_too(
        sink_settings: Settings, group_id: str) -> None:
    produce_decisions(sink_settings, [decision(f"k-{i}", client_id=f"c{i}") for i in range(6)])
    sink = AuditSink(sink_settings)
    with running(sink, AUDIT_STAGE, group_id) as thread:
        wait_for(lambda: committed_to_end(sink_settings, group_id, [DECISIONS, CONTROL]), 45,
                 thread)
    path = audit_log_path(sink_settings)
    intact = verify_anchored(sink_settings, path)
    assert intact.ok and intact.last_good is not None
    assert {a.source.split()[0] for a in intact.anchors} == {"file", "kafka"}
    assert intact.last_good.checkpoint.lines == 6

    rewrite(path, lines_of(path)[:3])
    checkpoint_file(path).unlink()
    verdict = verify_anchored(sink_settings, path)
    assert verdict.problem is not None
    assert "the log has 3 lines, the checkpoint from kafka" in verdict.problem
    with pytest.raises(AuditError, match="refusing to continue"), \
            running(AuditSink(sink_settings), AUDIT_STAGE, f"{group_id}-again") as again:
        again.join(30)


def test_a_restored_log_is_reanchored_with_the_cut_recorded_in_the_chain(
        offline_settings: Settings, anchored: Path) -> None:
    rewrite(anchored, lines_of(anchored)[:4])  # as restored from a backup taken at line 4
    with pytest.raises(AuditError, match="refusing"):
        open_anchored(offline_settings, anchored, mac_key(offline_settings), None)
    checkpoint, previous = reanchor(offline_settings, anchored, "restored from backup",
                                    use_kafka=False)
    assert previous is not None and previous.checkpoint.lines == 6
    assert checkpoint.lines == 5
    last = json.loads(lines_of(anchored)[-1])
    assert last["type"] == "reanchored" and last["event"]["lines_before"] == 4
    assert last["event"]["previous_checkpoint"]["lines"] == 6
    assert "the log has 4 lines" in last["event"]["problem"]
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.ok and verdict.last_good is not None
    assert verdict.last_good.checkpoint.lines == 5
    open_anchored(offline_settings, anchored, mac_key(offline_settings), None)[0].close()


def test_reanchor_refuses_an_edited_log(offline_settings: Settings, anchored: Path) -> None:
    lines = lines_of(anchored)
    lines[1] = lines[1].replace(b"lock_screen", b"allow")
    rewrite(anchored, lines)
    with pytest.raises(AuditError, match=r"broken at line 2 .* never an edited one"):
        reanchor(offline_settings, anchored, "trying", use_kafka=False)
