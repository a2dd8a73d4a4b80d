"""`vigil infra up|status|down` on its own ports: data survives a broker restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import load_settings
from vigil.local.infra import LocalRedis
from vigil.local.kafka_cluster import kafka_nodes
from vigil.local.servers import InfraError, free_port

pytestmark = pytest.mark.integration


def vigil(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil.apps.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def test_topic_and_records_survive_infra_down_and_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update({
        "VIGIL_STATE_DIR": str(tmp_path / "state"),
        "VIGIL_NAMESPACE": "restart",
        "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "VIGIL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "VIGIL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "VIGIL_PARTITIONS": "2",
    })
    settings = load_settings(state_dir=Path(env["VIGIL_STATE_DIR"]), namespace="restart",
                             kafka_bootstrap=env["VIGIL_KAFKA_BOOTSTRAP"],
                             redis_url=env["VIGIL_REDIS_URL"])
    try:
        up = vigil(env, "infra", "up")
        assert up.returncode == 0, up.stderr
        assert up.stdout.count("healthy") == 2
        assert vigil(env, "topics", "create").returncode == 0
        producer = make_producer(settings)
        for n in range(10):
            producer.produce("restart.decisions", key=f"k{n}", value=f"v{n}")
        assert producer.flush(30) == 0

        down = vigil(env, "infra", "down")
        assert down.returncode == 0 and down.stdout.count("stopped") == 2, down.stdout
        status = vigil(env, "infra", "status")
        assert status.returncode == 1 and "down" in status.stdout

        assert vigil(env, "infra", "up").returncode == 0
        recreate = vigil(env, "topics", "create")
        assert "exists  restart.decisions (2 partitions, retention" in recreate.stdout
        consumer = make_consumer(settings, "restart-check")
        consumer.subscribe(["restart.decisions"])
        values = set()
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                values.add(msg.value().decode())
            if len(values) == 10:
                break
        consumer.close()
        assert values == {f"v{n}" for n in range(10)}
    finally:
        vigil(env, "infra", "down")


def test_port_already_taken_is_reported(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = load_settings(state_dir=tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
        with pytest.raises(InfraError, match=rf"redis: port {port} .* already in use"):
            LocalRedis(settings).start()


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    # URL-safe base64 ids start with "-" one time in 64; passed as "-t ID" the tool read the
    # id as an option and refused to format.
    [kafka] = kafka_nodes(load_settings(state_dir=tmp_path,
                                        kafka_bootstrap=f"127.0.0.1:{free_port()}",
                                        kafka_controller_port=free_port(),
                                        kafka_brokers=1))
    kafka.root.mkdir(parents=True)
    (kafka.root / "server.properties").write_text(kafka._properties())
    kafka.format_storage("-AbCdEfGhIjKlMnOpQrStUv")
    meta = (kafka.data_dir / "meta.properties").read_text()
    assert "cluster.id=-AbCdEfGhIjKlMnOpQrStUv" in meta
