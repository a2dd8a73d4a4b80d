"""Group lag as `vigil up`'s autoscaler and `vigil status` read it (vigil/core/lag.py), on the
real broker: committed offsets against end offsets, a never-committed partition counted from
its start, the cache, and a closed reader."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from tests.integration.test_kafka import consume_all, produce
from vigil.core.flow import FRAMES
from vigil.core.kafka import make_consumer
from vigil.core.lag import LagReader, LagUnavailableError
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def test_lag_is_committed_against_end_offsets_per_partition(topics: Settings) -> None:
    topic = FRAMES.name(topics)
    group = f"{topics.deployment.namespace}-lagcheck"
    produce(topics, topic, [(f"client-{i % 5}", f"frame {i}") for i in range(20)])
    reader = LagReader(topics, max_age_s=0)
    try:
        # Nothing committed yet: every message counts, from each partition's start.
        assert reader.lag(group, [topic]).total == 20
        # A member reads 12 and commits them.
        consumer = make_consumer(topics, group, **{"enable.auto.commit": False})
        consumer.subscribe([topic])
        read = consume_all(consumer, 20)
        assert len(read) == 20
        done = read[:12]
        last: dict[int, int] = {}
        for msg in done:
            last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())
        consumer.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()],
                        asynchronous=False)
        consumer.close()
        lag = reader.lag(group, [topic])
        ends: dict[int, int] = {}
        for msg in read:
            ends[msg.partition()] = max(ends.get(msg.partition(), -1), msg.offset() + 1)
        expected = {(topic, p): end - (last[p] + 1 if p in last else 0)
                    for p, end in ends.items()}
        assert {k: v for k, v in lag.by_partition.items() if v or k in expected} == expected
        assert lag.total == sum(expected.values())
        # Without topics: the namespace's topics the group has committed on.
        assert reader.lag(group).total == sum(
            v for (t, p), v in expected.items() if p in last)
    finally:
        reader.close()
    with pytest.raises(LagUnavailableError, match="closed"):
        reader.lag(group, [topic])


def test_cached_answers_are_reused_within_max_age(topics: Settings) -> None:
    topic = FRAMES.name(topics)
    reader = LagReader(topics, max_age_s=60)
    try:
        first = reader.lag(f"{topics.deployment.namespace}-cache", [topic])
        produce(topics, topic, [("client-1", "frame")])
        assert reader.lag(f"{topics.deployment.namespace}-cache", [topic]) is first
    finally:
        reader.close()
