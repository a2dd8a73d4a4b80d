"""`vigil token`, `vigil clients`, `vigil status` and the clients file, against Kafka and Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import redis

from control.cluster.heartbeat import Heartbeat
from tests.conftest import Infra
from tests.control.test_enroll import run_cli
from tests.ingest.harness import add_client, expect, running_gateway, welcomed
from vigil.core.flow import CONTROL, FACE_STAGE
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings
from vigil.local.servers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def env(topics: Settings, user_db: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings on each user database engine, also in the CLI's environment."""
    for name, value in {"KAFKA_BOOTSTRAP": topics.kafka.bootstrap,
                        "REDIS_URL": topics.redis.url, "NAMESPACE": topics.deployment.namespace,
                        "STATE_DIR": str(topics.deployment.state_dir), "USER_DB": user_db}.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)
    return topics.replace(user_db=user_db)


def control_events(settings: Settings, count: int, timeout_s: float = 20.0) -> list[str]:
    consumer = make_consumer(settings, f"{settings.deployment.namespace}-check")
    consumer.subscribe([CONTROL.name(settings)])
    kinds: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(kinds) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                event = CONTROL.serializer.loads(msg.value())
                assert msg.key() == event.client_id.encode()
                kinds.append(f"{event.client_id}:{event.kind.value}:{event.reason}")
    finally:
        consumer.close()
    return kinds


def test_token_and_state_changes_reach_db_redis_and_the_control_topic(
        env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    add_client(env, "alice")
    assert run_cli("token", "issue", "alice") == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40 and "\n" not in token
    assert run_cli("clients", "pause", "alice", "--reason", "lunch") == 0
    state = redis.Redis.from_url(env.redis.url).hgetall(f"{env.deployment.namespace}:client:alice")
    assert (state[b"state"], state[b"reason"], state[b"enrolled"]) == (b"paused", b"lunch", b"1")
    assert run_cli("clients", "resume", "alice") == 0
    assert run_cli("clients", "block", "alice", "--reason", "left") == 0
    assert run_cli("token", "revoke", "alice") == 0
    assert run_cli("clients", "block", "ghost") == 1
    assert "unknown client 'ghost'" in capsys.readouterr().err
    capsys.readouterr()
    assert run_cli("clients", "list") == 0
    assert "alice" in (listing := capsys.readouterr().out) and "blocked" in listing
    assert control_events(env, 5) == ["alice:token-issued:", "alice:paused:lunch",
                                      "alice:resumed:", "alice:blocked:left",
                                      "alice:token-revoked:"]


def test_status_lists_processes_capacity_and_clients(
        env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    add_client(env, "alice")
    stop = threading.Event()
    beat = Heartbeat.start_for_stage(env, FACE_STAGE, "cpu", stop)
    try:
        assert run_cli("status") == 0
    finally:
        stop.set()
        beat.remove()
    out = capsys.readouterr().out
    # Measured rule (the default): before it has measured anything a face process offers the
    # floor, and no phone process is live to limit it.
    floor = env.scaling.admission_share_floor
    assert f"face     cpu   share={floor}" in out
    assert f"capacity: {floor} (live face and phone processors' measured shares" in out
    assert "sessions in use: 0" in out and "queue: 0 waiting" in out
    assert "alice" in out and "active" in out


def test_status_fails_naming_an_unreachable_redis(
        env: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("VIGIL_REDIS_URL", url)
    assert run_cli("status") == 1
    assert f"Redis unreachable at {url}" in capsys.readouterr().err


def test_clients_file_is_applied_without_a_restart(infra: Infra, topics: Settings,
                                                   tmp_path: Path) -> None:
    from tests.conftest import make_settings
    from tests.ingest.conftest import FAST

    clients_file = tmp_path / "clients.yaml"
    clients_file.write_text("paused: []\n")
    settings = make_settings(
        infra,
        topics.deployment.namespace,
        topics.deployment.state_dir,
        tmp_path / "w",
        clients_file=clients_file,
        clients_file_poll_s=0.2,
        **FAST,
    )
    token = add_client(settings, "alice")

    async def scenario() -> list[str]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            clients_file.write_text("paused:\n  alice: night shift\n")
            states = [(await expect(ws, "status", timeout_s=5))["state"]]
            clients_file.write_text("blocked: []\n")  # removed from the file: resumed
            states.append((await expect(ws, "status", timeout_s=5))["state"])
            await ws.close()
            return states

    assert asyncio.run(scenario()) == ["paused", "resumed"]
