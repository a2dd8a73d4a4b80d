"""Consumer-group lag read from the broker: committed offsets against end offsets.

One :class:`LagReader` keeps one admin client and asks, per group, for the committed offsets
(one request) and the end offsets of the same partitions (one ``ListOffsets`` request per
broker, all partitions at once). That costs a few milliseconds; what the notes warn about —
seconds — is asking for each partition's watermarks one by one, uncached, from a consumer.
Answers are cached for ``max_age_s`` so `vigil up`'s autoscaler and `vigil status` can ask as
often as they like. A partition the group never committed counts from its earliest offset,
as the stages' ``auto.offset.reset=earliest`` would read it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from vigil.core.errors import VigilError
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
    """Cached group lag from the broker's admin API."""

    def __init__(self, settings: Settings, max_age_s: float = 2.0,
                 admin: AdminClient | None = None) -> None:
        self.settings = settings
        self.max_age_s = max_age_s
        self._admin: AdminClient | None = admin or AdminClient(
            {"bootstrap.servers": settings.kafka_bootstrap})
        self._cache: dict[str, GroupLag] = {}
        self._partitions: dict[str, list[int]] = {}

    def admin(self) -> AdminClient:
        if self._admin is None:
            raise LagUnavailableError("the lag reader is closed")
        return self._admin

    def close(self) -> None:
        """Let go of the admin client now, while the interpreter is whole: librdkafka's
        threads must not outlive it (a `vigil up` once died of SIGSEGV as it exited)."""
        self._admin = None
        self._cache.clear()
        gc.collect()

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
                                      f"{self.settings.kafka_bootstrap}: {exc}") from exc
        self._cache[group] = answer
        return answer

    def _topic_partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        missing = [t for t in topics if t not in self._partitions]
        if missing:
            meta = self.admin().list_topics(timeout=REQUEST_TIMEOUT_S)
            for topic in missing:
                found = meta.topics.get(topic)
                if found is None or found.error is not None:
                    raise KafkaException(f"topic {topic} not found")
                self._partitions[topic] = sorted(found.partitions)
        return [TopicPartition(t, p) for t in topics for p in self._partitions[t]]

    def _read(self, group: str, topics: Sequence[str] | None) -> GroupLag:
        asked = self._topic_partitions(topics) if topics else None
        request = [ConsumerGroupTopicPartitions(group, asked)]
        futures = self.admin().list_consumer_group_offsets(request,
                                                         request_timeout=REQUEST_TIMEOUT_S)
        answer = futures[group].result().topic_partitions or []
        committed = {(tp.topic, tp.partition): tp.offset for tp in answer}
        partitions = asked if asked is not None else [TopicPartition(t, p)
                                                      for t, p in committed]
        if not partitions:
            return GroupLag(group, 0, {}, time.monotonic())
        ends = self._offsets(partitions, OffsetSpec.latest())
        never = [tp for tp in partitions if committed.get((tp.topic, tp.partition), -1) < 0]
        starts = self._offsets(never, OffsetSpec.earliest()) if never else {}
        by_partition = {}
        for key, end in ends.items():
            done = committed.get(key, -1)
            base = done if done >= 0 else starts.get(key, 0)
            by_partition[key] = max(0, end - base)
        return GroupLag(group, sum(by_partition.values()), by_partition, time.monotonic())

    def _offsets(self, partitions: Sequence[TopicPartition],
                 spec: OffsetSpec) -> dict[tuple[str, int], int]:
        futures = self.admin().list_offsets({tp: spec for tp in partitions},
                                          request_timeout=REQUEST_TIMEOUT_S)
        return {(tp.topic, tp.partition): future.result().offset
                for tp, future in futures.items()}
