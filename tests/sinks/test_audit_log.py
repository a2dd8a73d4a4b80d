"""The audit log's chain, without a broker: edits, deletions, insertions, reorders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinks.audit_anchor import CheckpointWriter
from sinks.audit_keys import load_signing_key
from sinks.audit_log import GENESIS, AuditError, AuditLog, verify
from tests.sinks.conftest import TEST_KEY
from vigil.apps.cli import main
from vigil.core.settings import load_settings


def entry(offset: int, partition: int = 0, topic: str = "t.decisions") -> dict[str, object]:
    return {"type": "decision", "topic": topic, "partition": partition, "offset": offset,
            "key": "alice", "kafka_timestamp": 1, "recorded_at": 2,
            "event": {"frame_id": f"f-{offset}", "action": "lock_screen", "score": 0.25}}


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of 5 lines with its checkpoint file; the CLI finds the key in the environment."""
    monkeypatch.setenv("VIGIL_SECRET_KEY", TEST_KEY)
    path = tmp_path / "audit" / "audit.log"
    log = AuditLog(path)
    log.append([entry(i) for i in range(5)])
    settings = load_settings(secret_key=TEST_KEY, state_dir=tmp_path / "state")
    monkeypatch.setenv("VIGIL_AUDIT_VERIFY_KEY", str(tmp_path / "state" / "audit" / "signing.pub"))
    CheckpointWriter(settings, path, load_signing_key(settings, create=True), None).record(log)
    log.close()
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def run_cli(argv: list[str]) -> int:
    """`vigil audit verify ...` in this process on the checkpoint file alone (no broker)."""
    return main([*argv, "--no-kafka"])


def test_intact_log_verifies_and_chains_from_genesis(log_file: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    result = verify(log_file)
    assert (result.ok, result.lines) == (True, 5)
    first = json.loads(lines_of(log_file)[0])
    assert first["prev"] == GENESIS and first["seq"] == 1
    assert run_cli(["audit", "verify", "--file", str(log_file)]) == 0
    assert "intact: 5 lines; last good checkpoint: line 5" in capsys.readouterr().out


def test_edited_line_is_named(log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_of(log_file)
    lines[2] = lines[2].replace(b"lock_screen", b"allow")
    rewrite(log_file, lines)
    assert verify(log_file).bad_line == 3
    assert run_cli(["audit", "verify", "--file", str(log_file)]) == 1
    assert "line 3" in capsys.readouterr().err


def test_whitespace_only_edit_is_caught(log_file: Path) -> None:
    lines = lines_of(log_file)
    lines[1] = lines[1].replace(b'"key":', b'"key": ')
    rewrite(log_file, lines)
    assert verify(log_file).bad_line == 2


def test_edit_with_recomputed_hash_breaks_the_next_link(log_file: Path) -> None:
    from sinks.audit_log import canonical, line_hash

    lines = lines_of(log_file)
    fields = json.loads(lines[2])
    fields["event"]["action"] = "allow"
    fields["hash"] = line_hash(fields)
    lines[2] = canonical(fields) + b"\n"
    rewrite(log_file, lines)
    result = verify(log_file)
    assert (result.ok, result.bad_line) == (False, 4)
    assert "prev" in result.reason


@pytest.mark.parametrize(("change", "bad_line"), [
    (lambda ls: ls[:2] + ls[3:], 3),                       # line 3 removed
    (lambda ls: [*ls[:1], ls[2], ls[1], *ls[3:]], 2),      # lines 2 and 3 swapped
    (lambda ls: [*ls[:2], ls[1], *ls[2:]], 3),             # line 2 inserted again as 3
    (lambda ls: ls[1:], 1),                                # first line removed
])
def test_removed_inserted_or_reordered_lines_are_named(log_file: Path, change, bad_line: int
                                                       ) -> None:
    rewrite(log_file, change(lines_of(log_file)))
    result = verify(log_file)
    assert (result.ok, result.bad_line) == (False, bad_line)


def test_reopened_log_continues_the_chain_and_knows_offsets(log_file: Path) -> None:
    log = AuditLog(log_file)
    try:
        assert log.lines == 5
        assert log.recorded("t.decisions", 0, 4)
        assert not log.recorded("t.decisions", 0, 5)
        assert not log.recorded("t.decisions", 1, 0)
        log.append([entry(5), entry(0, partition=1)])
    finally:
        log.close()
    assert (verify(log_file).ok, verify(log_file).lines) == (True, 7)


def test_torn_last_line_is_dropped_on_open(log_file: Path) -> None:
    with log_file.open("ab") as out:
        out.write(b'{"event":{"frame_id":"half')
    assert verify(log_file).bad_line == 6
    AuditLog(log_file).close()
    assert (verify(log_file).ok, verify(log_file).lines) == (True, 5)


def test_second_writer_is_refused(log_file: Path) -> None:
    first = AuditLog(log_file)
    try:
        with pytest.raises(AuditError, match="in use"):
            AuditLog(log_file)
    finally:
        first.close()


def test_missing_log_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    assert run_cli(["audit", "verify", "--file", str(tmp_path / "nope.log")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_an_appender_beside_the_owner_keeps_one_chain(log_file: Path) -> None:
    owner = AuditLog(log_file)
    appender = AuditLog(log_file, owner=False)
    try:
        appender.append([{"type": "access", "recorded_at": 3, "event": {"viewer": "ann"}}])
        owner.append([entry(5)])
        appender.append([{"type": "access", "recorded_at": 4, "event": {"viewer": "bob"}}])
        owner.append([entry(6)])
        assert owner.recorded("t.decisions", 0, 6) and owner.lines == 9
    finally:
        owner.close()
        appender.close()
    result = verify(log_file)
    assert (result.ok, result.lines) == (True, 9), result.reason
    types = [json.loads(raw)["type"] for raw in lines_of(log_file)]
    assert types[5:] == ["access", "decision", "access", "decision"]
    reopened = AuditLog(log_file)
    try:
        assert reopened.recorded("t.decisions", 0, 6) and reopened.lines == 9
    finally:
        reopened.close()
