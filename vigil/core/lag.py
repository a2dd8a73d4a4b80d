"""Consumer-group lag read from the broker: committed offsets against end offsets.

A :class:`LagReader` keeps one consumer per group it is asked about, created with that
group's id but never subscribed (it never joins the group, reads no message and commits
nothing), and asks for the group's committed offsets (one OffsetFetch request) and for the
end offsets of the same partitions in one batch (``offsets_for_times`` with the timestamp
``-1``, which the broker answers with each partition's end offset: one ListOffsets request per
leader). What the notes warn about — seconds — is asking for each partition's watermarks one
by one, uncached. Answers are cached for ``max_age_s`` so `vigil up`'s autoscaler and
`vigil status` can ask as often as they like. A partition the group never committed counts
from its earliest offset (timestamp ``-2``), as the stages' ``auto.offset.reset=earliest``
would read it.

Why not the admin client: librdkafka's admin requests that time out while a broker
restarts can abort the whole process (``rd_kafka_enq_once_del_source_return: Assertion
`eonce->refcnt > 0' failed``, librdkafka issue 4605); the fault matrix's broker case did
that to `vigil up` twice in two runs. The consumer API has no such path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from vigil.core.errors import VigilError
from vigil.core.kafka import make_consumer, retrying
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0


class LagUnavailableError(VigilError):
    """The broker did not answer a lag query; the message names the group and the error."""


@dataclass(frozen=True)
class GroupLag:
    """One consumer group's lag: messages between its committed offsets and the end."""

    group: str
    total: int
    by_partition: dict[tuple[str, int], int]
    read_at: float  # time.monotonic() of the answer


class LagReader:
    """Cached group lag from the broker, through one idle consumer per group."""

    def __init__(self, settings: Settings, max_age_s: float = 2.0) -> None:
        self.settings = settings
        self.max_age_s = max_age_s
        self._consumers: dict[str, Consumer] = {}
        self._cache: dict[str, GroupLag] = {}
        self._partitions: dict[str, list[int]] = {}
        self._closed = False

    def close(self) -> None:
        """Close the consumers (before the interpreter exits: librdkafka's threads must not
        outlive it)."""
        self._closed = True
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
        self._cache.clear()

    def lag(self, group: str, topics: Sequence[str] | None = None) -> GroupLag:
        """The group's lag over every partition of ``topics`` (cached for max_age_s); with
        no topics, over the partitions the group has committed offsets for."""
        cached = self._cache.get(group)
        if cached is not None and time.monotonic() - cached.read_at < self.max_age_s:
            return cached
        try:
            answer = self._read(group, topics)
        except KafkaException as exc:
            raise LagUnavailableError(f"lag of consumer group {group} unavailable from "
                                      f"{self.settings.kafka.bootstrap}: {exc}") from exc
        self._cache[group] = answer
        return answer

    def _consumer(self, group: str) -> Consumer:
        if self._closed:
            raise LagUnavailableError("the lag reader is closed")
        if group not in self._consumers:
            self._consumers[group] = make_consumer(self.settings, group,
                                                   **{"enable.auto.commit": False})
        return self._consumers[group]

    def _topic_partitions(self, consumer: Consumer,
                          topics: Sequence[str]) -> list[TopicPartition]:
        missing = [t for t in topics if t not in self._partitions]
        if missing:
            meta = consumer.list_topics(timeout=REQUEST_TIMEOUT_S)
            for topic in missing:
                found = meta.topics.get(topic)
                if found is None or found.error is not None:
                    raise KafkaException(f"topic {topic} not found")
                self._partitions[topic] = sorted(found.partitions)
        return [TopicPartition(t, p) for t in topics for p in self._partitions[t]]

    def _read(self, group: str, topics: Sequence[str] | None) -> GroupLag:
        consumer = self._consumer(group)
        if topics:
            partitions = self._topic_partitions(consumer, topics)
        else:  # every partition of every topic the group has committed on
            partitions = [TopicPartition(t, p) for t in self._group_topics(consumer)
                          for p in self._partitions[t]]
        if not partitions:
            return GroupLag(group, 0, {}, time.monotonic())
        answer = retrying(lambda: consumer.committed(partitions, timeout=REQUEST_TIMEOUT_S),
                          REQUEST_TIMEOUT_S)
        committed = {(tp.topic, tp.partition): tp.offset for tp in answer}
        if not topics:
            partitions = [tp for tp in partitions if committed[(tp.topic, tp.partition)] >= 0]
        ends = _offsets(consumer, partitions, LATEST)
        never = [tp for tp in partitions if committed.get((tp.topic, tp.partition), -1) < 0]
        starts = _offsets(consumer, never, EARLIEST) if never else {}
        by_partition = {}
        for key, end in ends.items():
            done = committed.get(key, -1)
            base = done if done >= 0 else starts.get(key, 0)
            by_partition[key] = max(0, end - base)
        return GroupLag(group, sum(by_partition.values()), by_partition, time.monotonic())

    def _group_topics(self, consumer: Consumer) -> list[str]:
        """Every topic of this namespace: the group's committed offsets are asked for all of
        their partitions, and those never committed are left out."""
        meta = consumer.list_topics(timeout=REQUEST_TIMEOUT_S)
        names = [t for t in meta.topics if t.startswith(f"{self.settings.deployment.namespace}.")]
        for name in names:
            self._partitions.setdefault(name, sorted(meta.topics[name].partitions))
        return names


LATEST, EARLIEST = -1, -2  # ListOffsets timestamps that ask for the end and the start


def _offsets(consumer: Consumer, partitions: Sequence[TopicPartition],
             timestamp: int) -> dict[tuple[str, int], int]:
    """End (LATEST) or start (EARLIEST) offsets of the partitions, in one batch."""
    asked = [TopicPartition(tp.topic, tp.partition, timestamp) for tp in partitions]
    found = retrying(lambda: consumer.offsets_for_times(asked, timeout=REQUEST_TIMEOUT_S),
                     REQUEST_TIMEOUT_S)
    failed = [tp for tp in found if tp.error is not None or tp.offset < 0]
    if failed:
        raise KafkaException(failed[0].error or f"no offset for {failed[0].topic}"
                                                f"[{failed[0].partition}]")
    return {(tp.topic, tp.partition): int(tp.offset) for tp in found}
