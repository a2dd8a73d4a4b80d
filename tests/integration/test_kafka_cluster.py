"""A local three-node cluster: every topic keeps 3 copies, 2 in sync, and a node's death loses
nothing that acks=all confirmed."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.conftest import Infra, local_infra_settings
from vigil.core.flow import DECIDE_CHANGELOGS, DECIDE_INTERNAL, FRAMES
from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import Settings, load_settings
from vigil.core.topics import create_topics
from vigil.local import infra as local
from vigil.local.kafka_cluster import LocalKafka, kafka_nodes

pytestmark = pytest.mark.integration
PER_PHASE = 100  # records produced before the kill, while the node is dead, after its restart


@pytest.fixture(scope="module")
def cluster(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A running local three-node cluster: the session's when it is one, else this module's."""
    if infra.settings is not None and infra.settings.kafka.local_nodes == 3:
        yield infra.settings
        return
    settings = local_infra_settings(tmp_path_factory.mktemp("cluster3"), 3)
    try:
        local.infra_up(settings)
        yield settings
    finally:
        local.infra_down(settings)


def settings_on(cluster: Settings, namespace: str, tmp_path: Path) -> Settings:
    return load_settings(kafka_bootstrap=cluster.kafka.bootstrap, namespace=namespace,
                         state_dir=tmp_path, partitions=3)


def topic_layout(settings: Settings, topic: str) -> tuple[dict[int, int], dict[int, int], str]:
    """(partition -> replica count, partition -> leader node, min.insync.replicas)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    deadline = time.monotonic() + 15
    # A new topic reaches every broker's metadata a moment after the first one's: the broker
    # asked may not list its partitions yet.
    while not (partitions := admin.list_topics(topic, timeout=10).topics[topic].partitions):
        assert time.monotonic() < deadline, f"{topic} has no partitions in the metadata"
        time.sleep(0.3)
    while True:
        [future] = admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
        try:
            isr = future.result(timeout=10)["min.insync.replicas"].value
            break
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART or \
                    time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    return ({p: len(m.replicas) for p, m in partitions.items()},
            {p: m.leader for p, m in partitions.items()}, str(isr))


def test_topics_and_decide_topics_get_three_copies_two_in_sync(
        cluster: Settings, namespace: str, tmp_path: Path) -> None:
    settings = settings_on(cluster, namespace, tmp_path)
    create_topics(settings)
    create_topics(settings, DECIDE_INTERNAL)
    for topic in (FRAMES.name(settings), DECIDE_CHANGELOGS[0].name(settings)):
        replicas, _leaders, min_insync = topic_layout(settings, topic)
        assert set(replicas.values()) == {3}, topic
        assert min_insync == "2", topic


class Collector:
    """A consumer on its own thread, keeping every value it reads."""

    def __init__(self, settings: Settings, topic: str, group: str) -> None:
        self.consumer = make_consumer(settings, group)
        self.consumer.subscribe([topic])
        self.values: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            msg = self.consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                self.errors.append(str(msg.error()))  # transient while a node is gone
                continue
            self.values.append(msg.value().decode())
        self.consumer.close()

    def wait_for(self, count: int, timeout_s: float, grace_s: float = 0.0) -> None:
        """Until ``count`` distinct values are in, then ``grace_s`` more for any repeat."""
        deadline = time.monotonic() + timeout_s
        while len(set(self.values)) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(grace_s)
        self.stop.set()
        self.thread.join(15)


def produce_phase(producer: Producer, topic: str, start: int, failures: list[str]) -> None:
    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err.str())

    for n in range(start, start + PER_PHASE):
        producer.produce(topic, key=f"client-{n % 7}", value=str(n), on_delivery=delivered)
        time.sleep(0.005)
    assert producer.flush(90) == 0


def wait_all_in_sync(settings: Settings, topic: str, timeout_s: float) -> float:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        parts = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
        if all(len(p.isrs) == 3 for p in parts):
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"{topic}: not every partition back to 3 in-sync copies in "
                         f"{timeout_s:.0f} s")


def test_sigkill_of_one_node_loses_nothing_acks_all_confirmed(
        cluster: Settings, namespace: str, tmp_path: Path) -> None:
    settings = settings_on(cluster, namespace, tmp_path)
    create_topics(settings)
    topic = FRAMES.name(settings)
    _replicas, leaders, _isr = topic_layout(settings, topic)
    victim: LocalKafka = next(
        node for node in kafka_nodes(cluster)
        if node.node.node_id == Counter(leaders.values()).most_common(1)[0][0])
    collector = Collector(settings, topic, f"{namespace}-reader")
    producer = make_producer(settings)  # acks=all, idempotent: what every stage uses
    failures: list[str] = []
    produce_phase(producer, topic, 0, failures)

    pid = victim.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    produce_phase(producer, topic, PER_PHASE, failures)
    stalled_s = time.monotonic() - killed_at
    statuses = {s.name: s for s in local.infra_status(cluster)}
    assert not statuses[victim.name].answering and not statuses[victim.name].running

    victim.start()
    victim.wait_ready(90)
    produce_phase(producer, topic, 2 * PER_PHASE, failures)
    collector.wait_for(3 * PER_PHASE, timeout_s=60)
    resync_s = wait_all_in_sync(settings, topic, 60)
    print(f"node {victim.name} killed: producing {PER_PHASE} records took {stalled_s:.1f} s; "
          f"back in sync {resync_s:.1f} s after the last phase; consumer errors seen: "
          f"{len(collector.errors)}")

    assert failures == []
    expected = {str(n) for n in range(3 * PER_PHASE)}
    assert set(collector.values) == expected
    # The log itself holds every record once: a fresh group reads exactly the 300.
    again = Collector(settings, topic, f"{namespace}-recount")
    again.wait_for(3 * PER_PHASE, timeout_s=60, grace_s=2.0)
    assert sorted(again.values, key=int) == sorted(expected, key=int)
