"""A backup taken while the audit and evidence sinks write, restored onto a fresh state
folder: the audit chain verifies, old evidence decrypts, an enrolled client connects."""

from __future__ import annotations

import asyncio
import json
import tarfile
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Message

from schemas.events import FrameHeaders, FrameRef
from schemas.serializers import Frame
from sinks.audit import AuditSink, audit_log_path
from sinks.audit_log import verify
from sinks.evidence import EvidenceSink
from tests.backup.test_archive import give_key
from tests.conftest import Infra, make_settings
from tests.ingest.conftest import FAST
from tests.ingest.harness import add_client, running_gateway, welcomed
from tests.sinks.conftest import JPEG_PATH, NOW_MS, decision, evidence_files, running, wait_for
from vigil.apps.cli import main
from vigil.backup.restore import read_manifest
from vigil.core.flow import AUDIT_STAGE, DECISIONS, EVIDENCE_STAGE, FRAMES
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings
from vigil.core.topics import create_topics

pytestmark = pytest.mark.integration

WRITES = 40  # decisions produced while the backup runs (bounded)


def use(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the `vigil` command's environment at these settings."""
    for name, value in {"KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                        "REDIS_URL": settings.redis.url, "NAMESPACE": settings.deployment.namespace,
                        "STATE_DIR": str(settings.deployment.state_dir)}.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)


def audit_lines(settings: Settings) -> int:
    path = audit_log_path(settings)
    return verify(path).lines if path.is_file() else 0


def keep_deciding(settings: Settings, frame_ids: range, jpeg: bytes) -> None:
    """A frame and its lock decision every 100 ms per frame id (one producer)."""
    producer = make_producer(settings)
    for n in frame_ids:
        headers = FrameHeaders(frame_id=f"live-{n}", client_id="alice", session_id="s-1",
                               seq=n + 1, captured_at=NOW_MS, received_at=NOW_MS)
        value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
        landed: list[FrameRef] = []

        def delivered(err: object, msg: Message, into: list[FrameRef] = landed) -> None:
            if err is None:
                into.append(FrameRef(topic=msg.topic(), partition=msg.partition(),
                                     offset=msg.offset()))

        producer.produce(FRAMES.name(settings), key="alice", value=value,
                         headers=kafka_headers, on_delivery=delivered)
        assert producer.flush(30) == 0 and len(landed) == 1
        made = decision(f"live-{n}", ref=landed[0])
        producer.produce(DECISIONS.name(settings), key="alice",
                         value=DECISIONS.serializer.dumps(made))
        assert producer.flush(30) == 0
        time.sleep(0.1)


def test_backup_while_sinks_write_restores_and_verifies(
        infra: Infra, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    jpeg = JPEG_PATH.read_bytes() if JPEG_PATH.is_file() else b"\xff\xd8" + bytes(4000)
    live = make_settings(infra, namespace, tmp_path / "live", tmp_path / "w",
                         frame_fetch_timeout_s=10.0, sink_batch_size=4, **FAST)
    create_topics(live)
    token = add_client(live, "alice")  # also makes the key file STATE_DIR/secret.key
    archive = tmp_path / "backup.tar"
    writer = threading.Thread(target=keep_deciding, args=(live, range(3, 3 + WRITES), jpeg))
    with running(AuditSink(live), AUDIT_STAGE), running(EvidenceSink(live), EVIDENCE_STAGE):
        keep_deciding(live, range(3), jpeg)  # the sinks are up once these are written
        wait_for(lambda: len(evidence_files(live)) == 3 and audit_lines(live) == 3,
                 timeout_s=60)
        writer.start()  # about 5 s of writes; the backup starts once the sinks write them
        wait_for(lambda: len(evidence_files(live)) >= 6 and audit_lines(live) >= 6,
                 timeout_s=60)
        use(live, monkeypatch)
        assert main(["backup", str(archive)]) == 0
        backed_up = capsys.readouterr().out
        writer.join(60)
        wait_for(lambda: len(evidence_files(live)) == 3 + WRITES, timeout_s=60)
    with tarfile.open(archive) as tar:
        saved = read_manifest(tar, archive)
    final_lines = verify(audit_log_path(live)).lines
    # Taken mid-stream: some of the writes, not all of them, and a chain that verifies.
    assert 6 <= saved.evidence_items < 3 + WRITES and 6 <= saved.audit_lines < final_lines
    assert saved.audit_problem == "" and f"{saved.evidence_items} evidence items" in backed_up

    fresh = make_settings(infra, namespace, tmp_path / "fresh", tmp_path / "w", **FAST)
    use(fresh, monkeypatch)
    assert main(["restore", str(archive)]) == 1
    assert "made without the data key" in capsys.readouterr().err
    give_key(live, fresh)
    assert main(["restore", str(archive)]) == 0
    restored = capsys.readouterr().out
    assert "1 clients (1 enrolled, embeddings decrypt)" in restored
    assert "re-anchored at line" in restored  # the restored log is behind its checkpoint
    assert main(["audit", "verify"]) == 0
    assert f"intact: {saved.audit_lines + 1} lines" in capsys.readouterr().out
    reanchored = json.loads(audit_log_path(fresh).read_text().splitlines()[-1])
    assert reanchored["type"] == "reanchored"
    assert reanchored["event"]["lines_before"] == saved.audit_lines
    shown = tmp_path / "shown.jpg"
    assert main(["evidence", "show", "live-0", "--out", str(shown)]) == 0
    assert shown.read_bytes() == jpeg and '"lock_screen"' in capsys.readouterr().out

    async def connect() -> str:
        async with running_gateway(fresh) as gateway:
            ws = await welcomed(gateway.url, "alice", token)
            await ws.close()
            return "welcome"

    assert asyncio.run(connect()) == "welcome"  # the old token still admits alice
    assert main(["restore", str(archive)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_a_client_forgotten_after_the_backup_stays_forgotten_after_a_restore(
        infra: Infra, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A restore of a backup taken before `vigil clients forget` used to bring the person's
    key and embeddings back without a word. It now reads the forgotten events newer than the
    backup from the control topic and forgets those clients again, and says so."""
    from control.clients import ClientControl
    from control.users.client_keys import ClientForgottenError
    from control.users.repository import open_repository

    live = make_settings(infra, namespace, tmp_path / "live", tmp_path / "w", **FAST)
    create_topics(live)
    add_client(live, "alice")
    add_client(live, "bob")
    use(live, monkeypatch)
    archive = tmp_path / "before-forget.tar"
    assert main(["backup", str(archive)]) == 0
    repo = open_repository(live)
    control = ClientControl(live, repo)
    try:
        control.forget("alice", "asked to be forgotten")
        assert control.problems == {}  # the event reached Kafka (and Redis)
    finally:
        control.close()
        repo.close()

    fresh = make_settings(infra, namespace, tmp_path / "fresh", tmp_path / "w", **FAST)
    give_key(live, fresh)
    use(fresh, monkeypatch)
    capsys.readouterr()
    assert main(["restore", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "clients forgotten after the backup, erased again: 1" in out
    assert "alice: forgotten at" in out and "control topic" in out
    restored = open_repository(fresh)
    try:
        with pytest.raises(ClientForgottenError):  # back from the archive, erased again
            restored.embeddings("alice")
        assert restored.embeddings("bob") is not None  # nobody else touched
    finally:
        restored.close()
