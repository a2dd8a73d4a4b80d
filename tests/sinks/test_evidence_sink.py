"""The evidence sink against a real broker: fetch by offset from a real partition, encrypt,
commit, replay (the wiring; its branches are tested broker-free in test_sinks_in_memory.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.events import Action
from sinks.audit import audit_log_path
from sinks.audit_log import verify
from sinks.evidence import EvidenceSink
from sinks.evidence_store import read_evidence
from tests.sinks.conftest import (
    committed_to_end,
    decision,
    evidence_files,
    produce_decisions,
    produce_frame,
    running,
    wait_for,
)
from vigil.apps.cli import main
from vigil.core.flow import DECISIONS, EVIDENCE_STAGE
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def run_until_committed(settings: Settings, group: str) -> None:
    sink = EvidenceSink(settings)
    with running(sink, EVIDENCE_STAGE, group) as thread:
        wait_for(lambda: committed_to_end(settings, group, [DECISIONS]), 45, thread)


def test_non_allow_decision_is_kept_encrypted_and_shown(
    sink_settings: Settings, group_id: str, jpeg: bytes, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    ref = produce_frame(sink_settings, jpeg, "frame-a1")
    allowed_ref = produce_frame(sink_settings, jpeg, "frame-a2")
    produce_decisions(sink_settings, [
        decision("frame-a1", action=Action.SIGN_OUT, ref=ref),
        decision("frame-a2", action=Action.ALLOW, ref=allowed_ref),
    ])
    run_until_committed(sink_settings, group_id)

    files = evidence_files(sink_settings)
    assert [f.name for f in files] == ["frame-a1.vgev"]
    data = files[0].read_bytes()
    assert jpeg[:64] not in data and b"frame-a1" not in data
    item = read_evidence(sink_settings, files[0])
    assert item.frame is not None and item.frame.frame_id == "frame-a1"
    assert item.decision.action is Action.SIGN_OUT and item.note is None

    # The auditor's command writes back the identical JPEG.
    monkeypatch.setenv("VIGIL_STATE_DIR", str(sink_settings.deployment.state_dir))
    monkeypatch.setenv("VIGIL_SECRET_KEY", key_value(sink_settings))
    out = tmp_path / "shown.jpg"
    assert main(["evidence", "show", "frame-a1", "--out", str(out)]) == 0
    assert out.read_bytes() == jpeg
    assert '"action": "sign_out"' in capsys.readouterr().out
    # The view is in the audit chain, as the console's are (who, from where, which frame).
    viewed = [json.loads(line) for line in audit_log_path(sink_settings).read_text().splitlines()]
    assert [(v["event"]["access"], v["event"]["frame_id"]) for v in viewed
            if v["type"] == "access"] == [("cli-show", "frame-a1")]
    assert verify(audit_log_path(sink_settings)).lines == len(viewed)  # the chain holds

    # A replay with a fresh group rewrites the same file: still exactly one, still readable.
    run_until_committed(sink_settings, f"{group_id}-replay")
    assert evidence_files(sink_settings) == files
    assert read_evidence(sink_settings, files[0]).jpeg == jpeg

    # A tampered file is a clear error, not garbage.
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    files[0].write_bytes(bytes(tampered))
    assert main(["evidence", "show", "frame-a1", "--out", str(out)]) == 1
    assert "decryption failed" in capsys.readouterr().err


def key_value(settings: Settings) -> str:
    assert settings.deployment.secret_key is not None
    return settings.deployment.secret_key.get_secret_value()
