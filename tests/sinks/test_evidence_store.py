"""Evidence files without a broker: encryption, safe paths, tampering, purge, the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from schemas.serializers import ContractError
from sinks.evidence_store import (
    EvidenceError,
    evidence_path,
    evidence_root,
    find_evidence,
    purge_evidence,
    read_evidence,
    write_evidence,
)
from tests.sinks.conftest import NOW_MS, decision
from vigil.apps.cli import main
from vigil.core.flow import DECISIONS
from vigil.core.settings import Settings, load_settings

DAY_MS = 86_400_000


def run_cli(argv: list[str]) -> int:
    """The `vigil` command in this process, errors mapped as a user sees them."""
    return main(argv)


def test_file_is_encrypted_and_reads_back(offline_settings: Settings, jpeg: bytes) -> None:
    d = decision("frame-0001")
    path = write_evidence(offline_settings, d, None, jpeg)
    assert path.parent.parent.name == "alice" and path.name == "frame-0001.vgev"
    data = path.read_bytes()
    assert jpeg[:64] not in data and b"frame-0001" not in data and b"alice" not in data
    assert path.stat().st_mode & 0o777 == 0o600
    item = read_evidence(offline_settings, find_evidence(offline_settings, "frame-0001"))
    assert item.decision == d and item.jpeg == jpeg and item.note is None


def test_same_decision_twice_is_one_file(offline_settings: Settings, jpeg: bytes) -> None:
    d = decision("frame-0002")
    first = write_evidence(offline_settings, d, None, jpeg)
    second = write_evidence(offline_settings, d, None, jpeg)
    assert first == second
    assert [p.name for p in evidence_root(offline_settings).rglob("*") if p.is_file()] == [
        "frame-0002.vgev"]
    assert read_evidence(offline_settings, second).jpeg == jpeg


@pytest.mark.parametrize("offset", [20, -1, 100])
def test_tampered_file_is_a_clear_error(offline_settings: Settings, jpeg: bytes,
                                        offset: int) -> None:
    path = write_evidence(offline_settings, decision("frame-0003"), None, jpeg)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError, match="altered"):
        read_evidence(offline_settings, path)


def test_wrong_key_and_moved_file_fail(offline_settings: Settings, tmp_path: Path,
                                       jpeg: bytes) -> None:
    path = write_evidence(offline_settings, decision("frame-0004"), None, jpeg)
    other_key = base64.b64encode(b"\x07" * 32).decode()
    wrong = load_settings(state_dir=offline_settings.deployment.state_dir, secret_key=other_key)
    with pytest.raises(EvidenceError, match="wrong key"):
        read_evidence(wrong, path)
    moved = path.parent.parent.parent / "mallory" / path.parent.name / path.name
    moved.parent.mkdir(parents=True)
    path.rename(moved)
    with pytest.raises(EvidenceError, match="decryption failed"):
        read_evidence(offline_settings, moved)


def test_malicious_ids_never_make_a_path(offline_settings: Settings, tmp_path: Path) -> None:
    bad = decision("frame-0005").model_dump(mode="json") | {"client_id": "../x"}
    with pytest.raises(ContractError, match="client_id"):
        DECISIONS.serializer.loads(json.dumps(bad).encode())
    root = evidence_root(offline_settings)
    for client_id, frame_id in [("../x", "f"), ("a", "../../etc/passwd"), ("a/b", "f"),
                                (".hidden", "f"), ("a", "")]:
        with pytest.raises(EvidenceError, match="refusing"):
            evidence_path(root, client_id, "2024-01-01", frame_id)
    with pytest.raises(EvidenceError):
        evidence_path(root, "a", "../..", "f")
    # A client folder that is a symlink out of the root is refused too.
    root.mkdir(parents=True)
    (root / "evil").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(EvidenceError, match="leaves"):
        evidence_path(root, "evil", "2024-01-01", "f")
    assert not list(tmp_path.glob("2024-01-01"))


def test_purge_removes_only_days_past_retention(offline_settings: Settings, jpeg: bytes,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    old = write_evidence(offline_settings, decision("old-1", decided_at=NOW_MS - 45 * DAY_MS),
                         None, jpeg)
    write_evidence(offline_settings, decision("old-2", client_id="bob",
                                              decided_at=NOW_MS - 31 * DAY_MS), None, jpeg)
    edge = write_evidence(offline_settings, decision("edge", decided_at=NOW_MS - 29 * DAY_MS),
                          None, jpeg)
    new = write_evidence(offline_settings, decision("new"), None, jpeg)
    assert purge_evidence(offline_settings) == 2
    assert not old.exists() and edge.exists() and new.exists()
    assert not (evidence_root(offline_settings) / "bob").exists()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    assert purge_evidence(offline_settings, now=later) == 2
    assert not edge.exists() and not new.exists()


def test_cli_show_and_purge(offline_settings: Settings, jpeg: bytes, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIGIL_STATE_DIR", str(offline_settings.deployment.state_dir))
    monkeypatch.setenv(
        "VIGIL_SECRET_KEY", offline_settings.deployment.secret_key.get_secret_value()
    )
    d = decision("frame-0006")
    write_evidence(offline_settings, d, None, jpeg)
    out = tmp_path / "out.jpg"
    assert run_cli(["evidence", "show", "frame-0006", "--out", str(out)]) == 0
    assert out.read_bytes() == jpeg
    assert json.loads(capsys.readouterr().out)["frame_id"] == "frame-0006"
    assert run_cli(["evidence", "show", "no-such-frame", "--out", str(out)]) == 1
    assert "no evidence for frame no-such-frame" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_EVIDENCE_RETENTION_DAYS", "1")
    write_evidence(offline_settings, decision("old", decided_at=NOW_MS - 3 * DAY_MS), None, jpeg)
    assert run_cli(["evidence", "purge"]) == 0
    assert "purged 1 evidence items" in capsys.readouterr().out


def test_without_a_configured_key_a_private_key_file_is_made_and_used(
    tmp_path: Path, jpeg: bytes
) -> None:
    from control.users.crypto import CryptoError, key_file

    settings = load_settings(state_dir=tmp_path / "state")
    path = write_evidence(settings, decision("k1"), None, jpeg)
    assert key_file(settings).stat().st_mode & 0o777 == 0o600
    assert read_evidence(settings, path).jpeg == jpeg
    key_file(settings).chmod(0o644)
    with pytest.raises(CryptoError, match="readable by others"):
        write_evidence(settings, decision("k2"), None, jpeg)
