"""`vigil clients forget`: one client's key destroyed, its biometric data unreadable, others
untouched, and a `forgotten` line in the audit log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from control.users.client_keys import ClientForgottenError
from control.users.crypto import encrypt, load_key
from control.users.db import UnknownClientError
from control.users.repository import open_repository
from sinks.audit import AuditSink, audit_log_path
from sinks.evidence_store import MAGIC, associated_data, write_evidence
from sinks.files import write_atomic
from tests.conftest import Infra, make_settings
from tests.control.test_enroll import run_cli
from tests.ingest.conftest import FAST
from tests.ingest.harness import add_client, closed_with, running_gateway, welcomed
from tests.sinks.conftest import TEST_KEY, committed_to_end, decision, running, wait_for
from vigil.apps.cli import main
from vigil.core.flow import AUDIT_STAGE, CONTROL, DECISIONS
from vigil.core.settings import Settings, load_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def env(topics: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings with a data key, also in the environment the CLI reads."""
    for name, value in {
        "KAFKA_BOOTSTRAP": topics.kafka.bootstrap,
        "REDIS_URL": topics.redis.url,
        "NAMESPACE": topics.deployment.namespace,
        "STATE_DIR": str(topics.deployment.state_dir),
        "SECRET_KEY": TEST_KEY,
    }.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)
    return topics.replace(secret_key=SecretStr(TEST_KEY))


def unit_rows(seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(2, 512)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def legacy_evidence(settings: Settings, frame_id: str, jpeg: bytes) -> Path:
    """An evidence file as written before per-client keys: version 1, under the data key."""
    path = settings.deployment.state_dir / "evidence" / "alice" / "2026-01-02" / f"{frame_id}.vgev"
    meta = json.dumps({"decision": decision(frame_id).model_dump(mode="json"), "frame": None,
                       "note": None, "stored_at": 1}).encode()
    plaintext = len(meta).to_bytes(4, "big") + meta + jpeg
    write_atomic(path, MAGIC + encrypt(load_key(settings), plaintext,
                                       associated_data("alice", frame_id)))
    return path


def show(frame_id: str, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["evidence", "show", frame_id, "--out", str(out)])
    return code, capsys.readouterr().err


def test_forget_makes_one_clients_biometrics_unreadable_and_is_audited(
        env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
    repo = open_repository(env)
    for client_id, seed in (("alice", 1), ("bob", 2)):
        repo.ensure_client(client_id)
        repo.set_embeddings(client_id, unit_rows(seed))
        write_evidence(env, decision(f"{client_id}-f1", client_id=client_id), None, jpeg)
    old = legacy_evidence(env, "alice-f0", jpeg)
    wrapped = repo._db.execute("SELECT wrapped FROM client_keys WHERE client_id = 'alice'"
                               ).fetchone()[0]
    repo.close()

    assert run_cli("clients", "forget", "alice", "--reason", "asked to be erased") == 0
    assert ("alice: biometric data erased: 1 key(s) destroyed, enrolled embeddings deleted, "
            "1 evidence file(s) now unreadable, 1 older file(s)") in capsys.readouterr().out

    repo = open_repository(env)
    with pytest.raises(ClientForgottenError, match=r"erased by `vigil clients forget` at .* "
                                                   r"its key is destroyed"):
        repo.embeddings("alice")
    np.testing.assert_allclose(repo.embeddings("bob"), unit_rows(2))  # type: ignore[arg-type]
    assert repo.get("alice").enrolled is False  # type: ignore[union-attr]
    repo.close()
    code, err = show("alice-f1", tmp_path / "a.jpg", capsys)
    assert code == 1 and "biometric data of client 'alice' was erased" in err
    assert not old.exists()  # no key of its own to destroy: deleted instead
    assert show("bob-f1", tmp_path / "b.jpg", capsys)[0] == 0
    assert (tmp_path / "b.jpg").read_bytes() == jpeg
    # The wrapped key is gone from the database file and its write-ahead log.
    stored = b"".join(p.read_bytes() for p in env.deployment.state_dir.glob("users.sqlite3*"))
    assert bytes(wrapped) not in stored and len(stored) > 0

    sink = AuditSink(env)
    with running(sink, AUDIT_STAGE) as thread:
        wait_for(
            lambda: committed_to_end(
                env, f"{env.deployment.namespace}-audit", [DECISIONS, CONTROL]
            ),
            45,
            thread,
        )
    lines = [json.loads(line) for line in audit_log_path(env).read_text().splitlines()]
    forgotten = [line["event"] for line in lines if line["type"] == "control"
                 and line["event"]["kind"] == "forgotten"]
    assert [(e["client_id"], e["reason"]) for e in forgotten] == [
        ("alice", "asked to be erased")]


def test_a_forgotten_client_gets_no_new_key_until_enrolled_again(user_db: str) -> None:
    repo = open_repository(load_settings(user_db=user_db, secret_key=TEST_KEY))
    repo.ensure_client("carol")
    repo.ensure_client("dave")
    repo.set_embeddings("dave", unit_rows(4))
    assert repo.forget("carol") == 0  # enrolled before keys, or never: a tombstone is kept
    assert repo.forget("dave") == 1
    with pytest.raises(ClientForgottenError):
        repo.embeddings("dave")
    with pytest.raises(UnknownClientError):
        repo.forget("nobody")
    with pytest.raises(ClientForgottenError):
        repo.keys.live("carol", revive=False)  # what the evidence sink asks for
    repo.set_embeddings("carol", unit_rows(3))  # enrolling again is consent again
    assert repo.embeddings("carol") is not None
    assert repo.keys.live("carol", revive=False).key_id
    repo.close()


def test_forget_closes_the_clients_open_session(env: Settings, infra: Infra,
                                                tmp_path: Path) -> None:
    settings = make_settings(
        infra,
        env.deployment.namespace,
        env.deployment.state_dir,
        tmp_path / "w",
        secret_key=TEST_KEY,
        **FAST,
    )
    token = add_client(settings, "alice")

    async def scenario() -> tuple[int | None, str]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            assert await asyncio.to_thread(run_cli, "clients", "forget", "alice") == 0
            code, reason, _messages = await closed_with(ws, timeout_s=10)
            return code, reason

    assert asyncio.run(scenario()) == (1008, "biometric data erased: enroll again")
