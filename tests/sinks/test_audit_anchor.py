"""Anchored audit: signed checkpoints catch a cut tail and a rewritten chain.

The chain alone cannot see either (the first tests show that it passes them); the checkpoint
file, and the checkpoint on Kafka when the file is gone too, can.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sinks.audit import AuditSink, audit_log_path
from sinks.audit_anchor import CheckpointWriter, checkpoint_file, freshest, open_anchored, sign
from sinks.audit_keys import load_signing_key
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
    writer = CheckpointWriter(offline_settings, path,
                              load_signing_key(offline_settings, create=True), None)
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
    monkeypatch.setenv("VIGIL_STATE_DIR", str(offline_settings.deployment.state_dir))
    code, text = verify_cli(offline_settings, anchored, capsys)
    assert code == 0
    assert "intact: 6 lines; last good checkpoint: line 6 (checkpoint 2, hash " in text
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
    monkeypatch.setenv("VIGIL_STATE_DIR", str(offline_settings.deployment.state_dir))
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


def test_a_checkpoint_made_with_the_data_key_but_not_the_audit_key_is_refused(
        offline_settings: Settings, anchored: Path) -> None:
    """A gateway holds the data key (compose gives it to every container): it once sufficed
    to MAC a checkpoint for a cut log. Only the audit sink's signing key signs now."""
    rewrite(anchored, lines_of(anchored)[:4])
    gateway = offline_settings.replace(state_dir=anchored.parent / "gateway")
    assert (
        gateway.deployment.secret_key == offline_settings.deployment.secret_key
    )  # the data key, all of it
    log = AuditLog(anchored)
    CheckpointWriter(gateway, anchored, load_signing_key(gateway, create=True), None,
                     sequence=99).record(log)
    log.close()
    verdict = verify_anchored(offline_settings, anchored, use_kafka=False)
    assert verdict.problem is not None and "no valid signature" in verdict.problem


def test_an_old_checkpoint_put_back_on_kafka_is_known_for_what_it_is(
        offline_settings: Settings) -> None:
    signer = load_signing_key(offline_settings, create=True)
    made = [sign(signer, "a" * 64, n, 2 * n, "b" * 64) for n in (1, 2, 3)]
    records = [(offset, cp.model_dump_json().encode()) for offset, cp in enumerate(made)]
    records.append((3, records[0][1]))  # checkpoint 1 produced again, after the cut
    best, problems = freshest(signer.public_key(), records, "t")
    assert best is not None and best.checkpoint.sequence == 3 and best.checkpoint.lines == 6
    assert len(problems) == 1 and "an old checkpoint was put back" in problems[0]
    in_order, none = freshest(signer.public_key(), records[:3], "t")
    assert in_order is not None and in_order.checkpoint.sequence == 3 and none == []


def test_sequences_continue_across_a_restart_of_the_sink(offline_settings: Settings,
                                                         anchored: Path) -> None:
    sink_log, writer = open_anchored(offline_settings, anchored,
                                     load_signing_key(offline_settings), None)
    sink_log.append([entry(6)])
    checkpoint = writer.record(sink_log)
    sink_log.close()
    assert checkpoint is not None and checkpoint.sequence == 3  # 1 and 2 in the fixture


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
        open_anchored(offline_settings, anchored, load_signing_key(offline_settings), None)
    # The log was not taken: a second open is not refused as "in use".
    with pytest.raises(AuditError, match="refusing"):
        open_anchored(offline_settings, anchored, load_signing_key(offline_settings), None)


def test_access_lines_between_checkpoints_are_continued_and_then_covered(
        offline_settings: Settings, anchored: Path) -> None:
    console = AuditLog(anchored, owner=False)  # the auditor console, while no sink runs
    console.append([{"type": "access", "event": {"auditor": "ann", "frame_id": "f-1"}}])
    key = load_signing_key(offline_settings)
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
        open_anchored(offline_settings, anchored, load_signing_key(offline_settings), None)
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
    open_anchored(offline_settings, anchored, load_signing_key(offline_settings), None)[0].close()


def test_reanchor_refuses_an_edited_log(offline_settings: Settings, anchored: Path) -> None:
    lines = lines_of(anchored)
    lines[1] = lines[1].replace(b"lock_screen", b"allow")
    rewrite(anchored, lines)
    with pytest.raises(AuditError, match=r"broken at line 2 .* never an edited one"):
        reanchor(offline_settings, anchored, "trying", use_kafka=False)


@pytest.mark.integration
def test_an_old_checkpoint_file_and_record_put_back_after_a_cut_do_not_verify(
        sink_settings: Settings) -> None:
    """Issue 20 item 4's attack: cut the log, then put back the checkpoint file of that length
    and produce its Kafka record again. The topic still holds the newer checkpoint (highest
    sequence wins, the put-back one is named), and the audit group's committed offsets show
    the lines that are gone."""
    from confluent_kafka import Producer

    from sinks.audit_anchor import AUDIT_CHECKPOINTS
    from vigil.core.flow import AUDIT_STAGE

    group = AUDIT_STAGE.group(sink_settings)
    path = audit_log_path(sink_settings)
    produce_decisions(sink_settings, [decision(f"o-{i}", client_id=f"c{i}") for i in range(3)])
    with running(AuditSink(sink_settings), AUDIT_STAGE) as thread:
        wait_for(lambda: committed_to_end(sink_settings, group, [DECISIONS, CONTROL]), 45,
                 thread)
    old_file = checkpoint_file(path).read_bytes()
    old_lines = lines_of(path)
    produce_decisions(sink_settings, [decision(f"o-{i}", client_id=f"c{i}") for i in range(3, 6)])
    with running(AuditSink(sink_settings), AUDIT_STAGE) as thread:
        wait_for(lambda: committed_to_end(sink_settings, group, [DECISIONS, CONTROL]), 45,
                 thread)
    assert verify_anchored(sink_settings, path).ok

    rewrite(path, old_lines)  # the cut...
    checkpoint_file(path).write_bytes(old_file)  # ...its old checkpoint file...
    old = json.loads(old_file)
    producer = Producer({"bootstrap.servers": sink_settings.kafka.bootstrap})
    producer.produce(AUDIT_CHECKPOINTS.name(sink_settings), key=old["log_id"],
                     value=old_file.strip())  # ...and its old record, produced again
    assert producer.flush(30) == 0
    verdict = verify_anchored(sink_settings, path)
    assert verdict.problem is not None
    assert "an old checkpoint was put back" in verdict.problem
    assert "lacks lines the audit sink had committed" in verdict.problem
    with pytest.raises(AuditError, match="refusing to continue"), \
            running(AuditSink(sink_settings), AUDIT_STAGE) as again:
        again.join(30)


def test_checkpoints_of_an_earlier_signing_key_are_history_not_a_forgery(
        offline_settings: Settings, tmp_path: Path) -> None:
    earlier = load_signing_key(
        offline_settings.replace(state_dir=tmp_path / "before-restore"), create=True
    )
    now = load_signing_key(offline_settings, create=True)
    old = [(n, sign(earlier, "a" * 64, n + 1, n + 1, "b" * 64).model_dump_json().encode())
           for n in range(2)]
    new = (2, sign(now, "a" * 64, 3, 3, "b" * 64).model_dump_json().encode())
    best, problems = freshest(now.public_key(), [*old, new], "t")
    assert best is not None and best.checkpoint.sequence == 3 and problems == []
    forged_last = (3, sign(earlier, "a" * 64, 9, 9, "b" * 64).model_dump_json().encode())
    best, problems = freshest(now.public_key(), [*old, new, forged_last], "t")
    assert best is not None and best.checkpoint.sequence == 3
    assert len(problems) == 1 and "no valid signature" in problems[0]
