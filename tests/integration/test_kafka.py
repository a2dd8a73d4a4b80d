"""The foundation against a real broker: keyed partitioning, headers, groups, restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from vigil.core.flow import DECISIONS, FACE_RESULTS, FRAMES, TOPICS
from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import Settings
from vigil.core.topics import create_topics

pytestmark = pytest.mark.integration
MEMBER = Path(__file__).with_name("group_member.py")


def produce(settings: Settings, topic: str, records: list[tuple[str, str]],
            headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = make_producer(settings)
    failures: list[str] = []
    for key, value in records:
        producer.produce(topic, key=key, value=value, headers=headers,
                         on_delivery=lambda err, _m: failures.append(str(err)) if err else None)
    assert producer.flush(30) == 0
    assert failures == []


def consume_all(consumer: Consumer, expected: int, timeout_s: float = 30.0) -> list:
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg)
    return got


def test_topics_create_is_idempotent_and_namespaced(settings: Settings) -> None:
    first = create_topics(settings, partitions=3)
    second = create_topics(settings, partitions=3)
    assert [r.name for r in first] == [t.name(settings) for t in TOPICS]
    assert all(r.name.startswith(settings.deployment.namespace) for r in first)
    assert all(r.created for r in first)
    assert not any(r.created for r in second)
    # The flow's count, but the single-partition topics keep theirs.
    assert {r.name: r.partitions for r in second} == {
        t.name(settings): 1 if t.partitions == 1 else 3 for t in TOPICS}


def _retention_on_broker(settings: Settings, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result()
    return int(config["retention.ms"].value)


def test_topics_get_their_retention_and_create_fixes_it(settings: Settings) -> None:
    reports = {r.name: r for r in create_topics(settings, partitions=1)}
    frames, decisions = FRAMES.name(settings), DECISIONS.name(settings)
    assert _retention_on_broker(settings, frames) == settings.kafka.frames_retention_ms == 3_600_000
    assert _retention_on_broker(settings, decisions) == 400 * 86_400_000
    assert reports[FACE_RESULTS.name(settings)].retention_ms == 86_400_000
    # An operator shortens the frames' retention: `vigil topics create` fixes old topics.
    shorter = settings.replace(frames_retention_ms=600_000)
    again = {r.name: r for r in create_topics(shorter, partitions=1)}
    assert again[frames].retention_changed and not again[decisions].retention_changed
    assert _retention_on_broker(settings, frames) == 600_000


def test_keyed_records_keep_partition_and_headers(topics: Settings, group_id: str) -> None:
    topic = FRAMES.name(topics)
    keys = [f"client-{i}" for i in range(8)]
    headers = [("frame_id", b"f-1"), ("seq", b"7"), ("content_type", b"image/jpeg")]
    produce(topics, topic, [(k, f"{k}:{n}") for n in range(3) for k in keys], headers)

    consumer = make_consumer(topics, group_id)
    consumer.subscribe([topic])
    try:
        messages = consume_all(consumer, 24)
    finally:
        consumer.close()
    assert len(messages) == 24
    partition_of: dict[str, set[int]] = {}
    for msg in messages:
        partition_of.setdefault(msg.key().decode(), set()).add(msg.partition())
        assert msg.headers() == headers
    # Every record of one key is in one partition, and keys spread over 2+ partitions.
    assert all(len(parts) == 1 for parts in partition_of.values())
    assert len(set().union(*partition_of.values())) >= 2
    # Per-key order is kept.
    for key in keys:
        values = [m.value().decode() for m in messages if m.key().decode() == key]
        assert values == [f"{key}:{n}" for n in range(3)]


class Member:
    """One group member process, its JSON lines collected by a reader thread."""

    def __init__(self, settings: Settings, group: str, topic: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(MEMBER), "--bootstrap", settings.kafka.bootstrap,
             "--group", group, "--topic", topic, "--idle", "6", "--max-seconds", "90"],
            stdout=subprocess.PIPE, text=True,
        )
        self.events: list[dict] = []
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def assignment(self) -> list[int] | None:
        assigned = [e["assigned"] for e in self.events if "assigned" in e]
        return assigned[-1] if assigned else None

    def finish(self) -> list[dict]:
        assert self.proc.wait(timeout=120) == 0
        self.reader.join(10)
        return [e for e in self.events if "key" in e]


def test_group_of_two_processes_splits_partitions_and_resumes(
    topics: Settings, group_id: str
) -> None:
    topic = FRAMES.name(topics)
    members = [Member(topics, group_id, topic) for _ in range(2)]
    # Produce only once both have joined: a member that starts after the other has consumed
    # everything would see nothing and leave, and the split would not be tested.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shares = [m.assignment() for m in members]
        if all(s is not None and len(s) == 2 for s in shares):
            break
        time.sleep(0.2)
    shares = [m.assignment() or [] for m in members]
    assert set(shares[0]).isdisjoint(shares[1]) and sorted(shares[0] + shares[1]) == [0, 1, 2, 3]

    first_batch = [(f"c{i}", f"a{i}") for i in range(40)]
    produce(topics, topic, first_batch)
    records = [m.finish() for m in members]
    assert all(records), "each process consumed some records"
    for member_records, share in zip(records, shares, strict=True):
        assert {r["partition"] for r in member_records} <= set(share)
    seen = sorted(r["value"] for rs in records for r in rs)
    assert seen == sorted(v for _, v in first_batch)

    # After both stop, a restarted member resumes from the committed offsets: new data only.
    second_batch = [(f"c{i}", f"b{i}") for i in range(20)]
    produce(topics, topic, second_batch)
    again = Member(topics, group_id, topic).finish()
    assert sorted(r["value"] for r in again) == sorted(v for _, v in second_batch)


def test_committed_offsets_are_what_the_group_reports(topics: Settings, group_id: str) -> None:
    topic = FRAMES.name(topics)
    produce(topics, topic, [("one-key", str(n)) for n in range(5)])
    consumer = make_consumer(topics, group_id)
    consumer.subscribe([topic])
    try:
        messages = consume_all(consumer, 5)
        consumer.commit(message=messages[-1], asynchronous=False)
        part = messages[-1].partition()
        committed = consumer.committed([TopicPartition(topic, part)], timeout=10)
    finally:
        consumer.close()
    assert committed[0].offset == messages[-1].offset() + 1
