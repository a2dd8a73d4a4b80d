"""A local Apache Kafka on 127.0.0.1: one KRaft node, or a cluster of three.

Every node is a combined broker and controller (``process.roles=broker,controller``). A
cluster of N nodes has a static quorum of N voters, so a cluster of three keeps working when
one node is lost: two voters are a majority, and every topic keeps 2 of its 3 copies in sync
(``vigil.core.topics.durability_for``, the same rule for the brokers' own topics here).

Node N (counted from 0) listens on the Nth port of ``kafka_bootstrap``, or on the first port
+ 2N when fewer are listed, and its controller on ``kafka_controller_port`` + 2N. Folders
under the state folder: ``kafka/`` for one node (the layout before clusters existed), and
``kafka-3nodes/node-1`` ... ``node-3`` for three, each with its own data, log, pid file and
``server.properties``; the layout's ``cluster.id`` holds the id every node is formatted with.
One-node and three-node data never mix: KRaft cannot grow a one-voter quorum by a restart.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vigil.core.settings import Settings
from vigil.core.topics import durability_for
from vigil.local.servers import (
    KAFKA_LOG4J,
    SETUP_HINT,
    InfraError,
    LocalServer,
    kafka_home,
    port_answers,
)

NODE_PORT_STEP = 2
CLUSTER_ID_FILE = "cluster.id"


@dataclass(frozen=True)
class KafkaNode:
    """Where one node of the local cluster listens (node_id counts from 1, as KRaft's)."""

    node_id: int
    port: int
    controller_port: int
    host: str = "127.0.0.1"  # the address kafka_bootstrap names for it


def cluster_nodes(settings: Settings, count: int | None = None) -> list[KafkaNode]:
    """The nodes of a local cluster of ``count`` (default: the settings') and their ports."""
    size = count or settings.kafka.local_nodes
    listed = settings.kafka.ports
    hosts = [server.rsplit(":", 1)[0] for server in settings.kafka.bootstrap.split(",")]
    nodes = [KafkaNode(i + 1, listed[i] if i < len(listed) else listed[0] + NODE_PORT_STEP * i,
                       settings.kafka.controller_port + NODE_PORT_STEP * i,
                       hosts[i] if i < len(hosts) else hosts[0])
             for i in range(size)]
    ports = [(node.host, port) for node in nodes for port in (node.port, node.controller_port)]
    clashing = sorted({port for host, port in ports if ports.count((host, port)) > 1})
    if clashing:
        raise InfraError(f"the {size} local Kafka nodes would share port(s) {clashing}: list "
                         "one address per node in kafka_bootstrap, or move "
                         "kafka_controller_port away from the broker ports")
    return nodes


def cluster_bootstrap(nodes: list[KafkaNode]) -> str:
    """The bootstrap list naming every node, so clients survive the loss of any one."""
    return ",".join(f"{node.host}:{node.port}" for node in nodes)


def layout_root(state_dir: Path, size: int) -> Path:
    """The folder of a local cluster of ``size`` nodes."""
    return state_dir / "kafka" if size == 1 else state_dir / f"kafka-{size}nodes"


def layouts_on_disk(state_dir: Path) -> list[int]:
    """Sizes of the local clusters that have a folder under the state folder."""
    sizes = [1] if (state_dir / "kafka").is_dir() else []
    for folder in sorted(state_dir.glob("kafka-*nodes")):
        count = folder.name.removeprefix("kafka-").removesuffix("nodes")
        if count.isdigit() and int(count) > 1:
            sizes.append(int(count))
    return sizes


class LocalKafka(LocalServer):
    """One KRaft broker+controller node from the jars in the cache."""

    def __init__(self, settings: Settings, node: KafkaNode, cluster: list[KafkaNode]) -> None:
        self.node, self.cluster = node, cluster
        self.layout = layout_root(settings.deployment.state_dir, len(cluster)).resolve()
        self.name = "kafka" if len(cluster) == 1 else f"kafka-{node.node_id}"
        super().__init__(settings, self.layout if len(cluster) == 1
                         else self.layout / f"node-{node.node_id}")

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def host(self) -> str:
        return self.node.host

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _classpath(self) -> str:
        libs = kafka_home() / "libs"
        if not (kafka_home() / ".vigil-ready").exists():
            raise InfraError(f"the Kafka broker jars are not in {libs}: {SETUP_HINT}")
        return f"{libs}/*"

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise InfraError("java is not installed: Kafka 4 needs Java 17 (apt-get install "
                             "openjdk-17-jre-headless)")
        return java

    def _properties(self) -> str:
        node, copies = self.node, durability_for(len(self.cluster))
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.cluster)
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{node.host}:{node.port},"
            f"CONTROLLER://{node.host}:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{node.host}:{node.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            # The brokers' own topics, and any topic created without settings, as durable as
            # Vigil's: on one node they cannot have more than one copy.
            f"default.replication.factor={copies.replicas}",
            f"min.insync.replicas={copies.min_insync}",
            f"offsets.topic.replication.factor={copies.replicas}",
            "offsets.topic.num.partitions=10",
            f"transaction.state.log.replication.factor={copies.replicas}",
            f"transaction.state.log.min.isr={copies.min_insync}",
            f"share.coordinator.state.topic.replication.factor={copies.replicas}",
            f"share.coordinator.state.topic.min.isr={copies.min_insync}",
            # A node that dies is fenced, and its partitions led elsewhere, after 6 s, not 9.
            "broker.heartbeat.interval.ms=1000",
            "broker.session.timeout.ms=6000",
            # Tests and local runs join groups often; don't wait 3 s for more members.
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ])

    def cluster_id(self) -> str:
        """The id every node of this layout is formatted with (made once, then kept)."""
        path = self.layout / CLUSTER_ID_FILE
        self.layout.mkdir(parents=True, exist_ok=True)
        new_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        try:  # O_EXCL: the nodes prepare side by side, and all must get the same id
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return self._read_cluster_id(path)
        with os.fdopen(fd, "w") as out:
            out.write(new_id + "\n")
        return new_id

    @staticmethod
    def _read_cluster_id(path: Path) -> str:
        deadline = time.monotonic() + 5
        while not (text := path.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)  # the creator is between open and write
        if not text:
            raise InfraError(f"{path} is empty: remove it and run `vigil infra up` again")
        return text

    def prepare(self) -> None:
        (self.root / "server.properties").write_text(self._properties())
        if not (self.data_dir / "meta.properties").exists():
            self.format_storage(self.cluster_id())

    def format_storage(self, cluster_id: str) -> None:
        """Format the KRaft storage once (a no-op when it is formatted already)."""
        result = subprocess.run(
            # "--cluster-id=ID", not "-t ID": a URL-safe base64 id may start with "-".
            [self._java(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
             f"--cluster-id={cluster_id}", "-c", str(self.root / "server.properties"),
             "--ignore-formatted"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage failed: {result.stderr.strip()[-800:]}")

    def command(self) -> list[str]:
        return [
            self._java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp", self._classpath(), "kafka.Kafka", str(self.root / "server.properties"),
        ]

    def ping(self) -> bool:
        if not port_answers(self.port, self.host):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"{self.host}:{self.port}"})
        try:
            admin.list_topics(timeout=2)
        except Exception:  # KafkaException while the broker finishes starting
            return False
        return True


def kafka_nodes(settings: Settings, count: int | None = None) -> list[LocalKafka]:
    """One LocalKafka per node of a local cluster of ``count`` (default: the settings')."""
    nodes = cluster_nodes(settings, count)
    return [LocalKafka(settings, node, nodes) for node in nodes]
