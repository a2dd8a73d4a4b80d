"""The outbox: control commands succeed while Redis or Kafka is down, and their events arrive,
in order, once a running process delivers the outbox."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from control.clients import ClientControl
from control.cluster import redis_keys as keys
from control.events.outbox import KAFKA, REDIS, OutboxDrainer
from control.users.db import ClientState
from control.users.repository import open_repository
from processors.enroll import enroll
from tests.conftest import Infra, make_settings
from tests.control.test_clients_cli import control_events
from tests.control.test_enroll import FakeChain, FakeFace, FakeFaces, run_cli
from tests.control.test_enroll import _read as read_numbered
from tests.control.test_store import open_repo
from tests.ingest.harness import add_client, running_gateway
from tests.private_redis import private_redis
from vigil.core.flow import CONTROL
from vigil.core.settings import Settings
from vigil.core.topics import create_topics
from vigil.local.servers import free_port


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in {"KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                        "REDIS_URL": settings.redis.url, "NAMESPACE": settings.deployment.namespace,
                        "STATE_DIR": str(settings.deployment.state_dir),
                        "OUTBOX_DELIVERY_TIMEOUT_S": "1"}.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)


def _pending_kinds(settings: Settings) -> list[str]:
    repo = open_repository(settings)
    try:
        return [CONTROL.serializer.loads(e.event).kind.value for e in repo.outbox_pending(100)]
    finally:
        repo.close()


def test_outbox_keeps_order_and_one_drainer_holds_the_lease(user_db: str) -> None:
    repo, other = open_repo(user_db), open_repo(user_db)  # two processes sharing the database
    try:
        repo.ensure_client("alice")
        with repo.transaction():  # a change and its event: both or neither
            repo.set_state("alice", ClientState.PAUSED, "lunch", "test")
            first = repo.outbox_add("alice", b'{"kind": "paused"}')
        with pytest.raises(RuntimeError), repo.transaction():
            repo.set_state("alice", ClientState.BLOCKED, "", "test")
            repo.outbox_add("alice", b'{"kind": "blocked"}')
            raise RuntimeError("the command fails before committing")
        second = other.outbox_add("alice", b'{"kind": "resumed"}')
        assert repo.get("alice").state is ClientState.PAUSED  # type: ignore[union-attr]
        assert [(e.seq, e.event) for e in repo.outbox_pending(10)] == [
            (first, b'{"kind": "paused"}'), (second, b'{"kind": "resumed"}')]
        repo.outbox_done([first], "redis")
        repo.outbox_done([first, second], "kafka")
        assert [(e.seq, e.redis_done, e.kafka_done) for e in other.outbox_pending(10)] == [
            (second, False, True)]  # the first left: both took it

        assert repo.outbox_lease("gateway-1", ttl_ms=60_000)
        assert not other.outbox_lease("gateway-2", ttl_ms=60_000)
        assert repo.outbox_lease("gateway-1", ttl_ms=60_000)  # the holder extends it
        repo.outbox_release("gateway-1")
        assert other.outbox_lease("gateway-2", ttl_ms=1)  # gateway-2 dies holding it ...
        time.sleep(0.01)
        assert repo.outbox_lease("gateway-1", ttl_ms=60_000)  # ... and its lease lapses
    finally:
        repo.close()
        other.close()


@pytest.mark.integration
def test_commands_succeed_with_redis_and_kafka_down_and_arrive_in_order_later(
        infra: Infra, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with private_redis(tmp_path / "redis", started=False) as server:
        down = make_settings(infra, namespace, tmp_path / "state", tmp_path / "w",
                             redis_url=server.url, kafka_bootstrap=f"127.0.0.1:{free_port()}",
                             outbox_delivery_timeout_s=1.0)
        add_client(down, "alice")
        _cli_env(monkeypatch, down)
        assert run_cli("clients", "block", "alice", "--reason", "lost laptop") == 0
        err = capsys.readouterr().err
        assert f"vigil: warning: Redis at {server.url} did not answer" in err
        assert f"Kafka at {down.kafka.bootstrap} did not take it" in err
        assert "The change is stored in the user database" in err
        assert run_cli("clients", "resume", "alice") == 0
        assert run_cli("token", "revoke", "alice") == 0
        control = ClientControl(down, open_repository(down))
        face = FakeFace(np.full(512, 1.0, np.float32), liveness=0.9)
        report = enroll(down, control, "bob", [Path("1.jpg")],
                        chain=FakeChain({1: FakeFaces((face,))}), read=read_numbered)
        assert report.accepted and set(control.problems) == {REDIS, KAFKA}
        control.close()
        assert _pending_kinds(down) == ["blocked", "resumed", "token-revoked", "enrolled"]

        # Both come back: a drainer (what every gateway runs) delivers, oldest first.
        server.start()
        monkeypatch.delenv("VIGIL_OUTBOX_DELIVERY_TIMEOUT_S")
        up = make_settings(infra, namespace, tmp_path / "state", tmp_path / "w",
                           redis_url=server.url)
        create_topics(up)
        client = redis.Redis.from_url(server.url)
        channel = client.pubsub(ignore_subscribe_messages=True)
        channel.subscribe(keys.control_channel(namespace))
        drainer = OutboxDrainer(up, open_repository(up), "gateway-test")
        report = drainer.drain()
        assert (report.to_redis, report.to_kafka, report.pending, report.problems) == (
            4, 4, 0, {})
        heard = []
        deadline = time.monotonic() + 3
        while len(heard) < 4 and time.monotonic() < deadline:
            if (message := channel.get_message(timeout=0.2)) is not None:
                heard.append(CONTROL.serializer.loads(message["data"]).kind.value)
        assert heard == ["blocked", "resumed", "token-revoked", "enrolled"]
        assert client.hgetall(keys.client_key(namespace, "alice"))[b"state"] == b"active"
        assert client.hgetall(keys.client_key(namespace, "bob"))[b"enrolled"] == b"1"
        on_topic = control_events(up, 4)  # in order per client (one partition each)
        assert [e for e in on_topic if e.startswith("alice:")] == [
            "alice:blocked:lost laptop", "alice:resumed:", "alice:token-revoked:"]
        assert [e for e in on_topic if e.startswith("bob:")] == ["bob:enrolled:1 photo(s)"]
        drainer.repo.close()
        drainer.close()
        channel.close()
        client.close()


@pytest.mark.integration
def test_a_running_gateway_delivers_what_waited_for_kafka(
        infra: Infra, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    up = make_settings(infra, namespace, tmp_path / "state", tmp_path / "w", gateway_port=0,
                       metrics_port_base=0, outbox_poll_s=0.2)
    create_topics(up)
    add_client(up, "alice")
    _cli_env(monkeypatch, up)
    monkeypatch.setenv("VIGIL_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # Kafka down
    assert run_cli("clients", "pause", "alice", "--reason", "lunch") == 0
    err = capsys.readouterr().err
    assert "Kafka at 127.0.0.1:" in err and "Redis" not in err
    state = redis.Redis.from_url(up.redis.url).hgetall(keys.client_key(namespace, "alice"))
    assert state[b"state"] == b"paused"  # Redis took it at once
    assert _pending_kinds(up) == ["paused"]

    async def gateway_runs() -> None:
        async with running_gateway(up):
            deadline = time.monotonic() + 20
            while _pending_kinds(up) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)

    asyncio.run(gateway_runs())
    assert _pending_kinds(up) == []
    assert control_events(up, 1) == ["alice:paused:lunch"]
