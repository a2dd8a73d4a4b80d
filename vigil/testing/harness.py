"""Run any consumer stage's handler on in-memory topics: no broker (as kstreams'
``TestStreamClient`` does).

The harness hands a handler the clients of :class:`MemoryTopics` through the same
:class:`~vigil.core.flow_types.StageIO` the runner gives it real ones through, and runs the
same consumer loop (:class:`~vigil.core.stage_loop.StageLoop`: poll a batch, handle it,
commit) from the stage's table entry until the inputs are drained. What the stage wrote
(results, dead letters, checkpoints) and what it committed are then read back::

    harness = Harness(settings)
    harness.send(DECISIONS, decision.client_id, DECISIONS.serializer.dumps(decision))
    harness.run(EVIDENCE_STAGE, EvidenceSink(settings, harness.io))
    assert harness.committed(EVIDENCE_STAGE) == {...}

The in-memory clients implement what the stages call of confluent-kafka's Producer and
Consumer (produce, flush, subscribe, consume, poll, commit, assign, watermarks), nothing more.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from vigil.apps.run_stage import consumer_stage
from vigil.core.flow_types import Handler, Stage, StageIO, Topic
from vigil.core.settings import Settings

Headers = list[tuple[str, bytes]]
DEFAULT_BATCH = 32


@dataclass
class MemoryMessage:
    """One record as a consumer sees it (the methods of confluent_kafka.Message)."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None
    _headers: Headers | None
    _timestamp: int

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Headers | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return 1, self._timestamp  # TIMESTAMP_CREATE_TIME

    def error(self) -> None:
        return None


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


@dataclass
class MemoryTopics:
    """The in-memory broker: topics of ``partitions`` partitions (made on first use), and
    the offsets each group committed."""

    partitions: int = 1
    logs: dict[str, list[list[MemoryMessage]]] = field(default_factory=dict)
    low: dict[tuple[str, int], int] = field(default_factory=dict)  # first offset kept
    commits: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, topic: str) -> list[list[MemoryMessage]]:
        with self.lock:
            return self.logs.setdefault(topic, [[] for _ in range(self.partitions)])

    def append(self, topic: str, key: str | bytes | None, value: str | bytes | None,
               headers: Headers | None = None, partition: int | None = None) -> MemoryMessage:
        """Append a record (to the key's partition by CRC32, as every producer agrees)."""
        parts = self.log(topic)
        key_bytes = _bytes(key)
        if partition is None:
            partition = zlib.crc32(key_bytes or b"") % len(parts)
        with self.lock:
            msg = MemoryMessage(topic, partition, len(parts[partition]), key_bytes,
                                _bytes(value), list(headers) if headers else None,
                                int(time.time() * 1000))
            parts[partition].append(msg)
        return msg

    def messages(self, topic: str) -> list[MemoryMessage]:
        """Every record of a topic still kept, partition by partition."""
        return [msg for p, part in enumerate(self.log(topic))
                for msg in part[self.low.get((topic, p), 0):]]

    def partition(self, topic: str, partition: int) -> list[MemoryMessage]:
        """One partition's records (KafkaException for a partition the topic lacks)."""
        parts = self.log(topic)
        if not 0 <= partition < len(parts):
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))
        return parts[partition]

    def delete_records(self, topic: str, partition: int, before: int) -> None:
        """Drop the records before an offset, as retention does."""
        self.low[(topic, partition)] = before

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(first offset kept, next offset) of a partition."""
        return self.low.get((topic, partition), 0), len(self.partition(topic, partition))


class MemoryProducer:
    """confluent_kafka.Producer on :class:`MemoryTopics`: records land at once; delivery
    callbacks run at the next poll or flush, as librdkafka runs them."""

    def __init__(self, topics: MemoryTopics) -> None:
        self.topics = topics
        self._delivered: list[tuple[Callable[..., None], MemoryMessage]] = []

    def produce(self, topic: str, value: str | bytes | None = None,
                key: str | bytes | None = None, partition: int = -1,
                on_delivery: Callable[..., None] | None = None, headers: Any = None,
                **_ignored: Any) -> None:
        headers = list(headers.items()) if isinstance(headers, dict) else headers
        msg = self.topics.append(topic, key, value, headers,
                                 None if partition < 0 else partition)
        if on_delivery is not None:
            self._delivered.append((on_delivery, msg))

    def poll(self, _timeout: float = 0) -> int:
        done, self._delivered = self._delivered, []
        for callback, msg in done:
            callback(None, msg)
        return len(done)

    def flush(self, _timeout: float = 0) -> int:
        self.poll()
        return 0  # nothing left undelivered


class MemoryConsumer:
    """confluent_kafka.Consumer on :class:`MemoryTopics`, one group member owning every
    partition of what it subscribes to."""

    def __init__(self, topics: MemoryTopics, group_id: str, **config: Any) -> None:
        self.topics = topics
        self.group_id = group_id
        self.latest = config.get("auto.offset.reset") == "latest"
        self.positions: dict[tuple[str, int], int] = {}

    def _start(self, topic: str, partition: int) -> int:
        committed = self.topics.commits.get(self.group_id, {}).get((topic, partition))
        if committed is not None:
            return committed
        return len(self.topics.log(topic)[partition]) if self.latest else 0

    def subscribe(self, topics: Sequence[str], on_assign: Any = None,
                  on_revoke: Any = None) -> None:
        parts = [TopicPartition(t, p) for t in topics for p in range(len(self.topics.log(t)))]
        self.positions = {(tp.topic, tp.partition): self._start(tp.topic, tp.partition)
                          for tp in parts}
        if on_assign is not None:
            on_assign(self, parts)

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.positions = {(tp.topic, tp.partition): tp.offset if tp.offset >= 0
                          else self._start(tp.topic, tp.partition) for tp in partitions}

    def unassign(self) -> None:
        self.positions = {}

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.positions]

    def position(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition,
                               self.positions.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[MemoryMessage]:
        """Up to ``num_messages`` records after the positions, partition by partition."""
        batch: list[MemoryMessage] = []
        for (topic, partition), position in sorted(self.positions.items()):
            offset = max(position, self.topics.low.get((topic, partition), 0))
            records = self.topics.partition(topic, partition)[offset:]
            taken = records[:num_messages - len(batch)]
            batch += taken
            self.positions[(topic, partition)] = offset + len(taken)
            if len(batch) >= num_messages:
                break
        return batch

    def poll(self, timeout: float = -1) -> MemoryMessage | None:
        batch = self.consume(1, timeout)
        return batch[0] if batch else None

    def commit(self, offsets: Sequence[TopicPartition] | None = None,
               asynchronous: bool = True, **_ignored: Any) -> None:
        group = self.topics.commits.setdefault(self.group_id, {})
        for tp in offsets or []:
            group[(tp.topic, tp.partition)] = tp.offset

    def committed(self, partitions: Sequence[TopicPartition],
                  timeout: float = -1) -> list[TopicPartition]:
        group = self.topics.commits.get(self.group_id, {})
        return [TopicPartition(tp.topic, tp.partition, group.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = -1,
                              cached: bool = False) -> tuple[int, int]:
        return self.topics.watermarks(partition.topic, partition.partition)

    def close(self) -> None:
        self.positions = {}


class Harness:
    """In-memory topics, the clients a handler is built with, and a synchronous run."""

    def __init__(self, settings: Settings, partitions: int = 1) -> None:
        self.settings = settings
        self.topics = MemoryTopics(partitions)
        # The memory clients stand in for confluent-kafka's by their methods (duck typing).
        producer = cast(Callable[..., Producer],
                        lambda _settings, **_config: MemoryProducer(self.topics))
        consumer = cast(Callable[..., Consumer], lambda _settings, group_id, **config:
                        MemoryConsumer(self.topics, group_id, **config))
        self.io = StageIO(stop=threading.Event(), producer=producer, consumer=consumer)

    def send(self, topic: Topic[Any], key: str, value: bytes,
             headers: Headers | None = None) -> MemoryMessage:
        """Put one record on a topic of the flow, as its producer would."""
        return self.topics.append(topic.name(self.settings), key, value, headers)

    def run(self, entry: Stage, handler: Handler, group_id: str | None = None,
            open_close: bool = True) -> int:
        """Run ``handler`` in the loop its entry describes until its inputs are drained;
        returns the messages handled. A message the handler fails on alone is dead-lettered
        (vigil/core/stage_loop.py); an error outside the handler is raised here."""
        self.io.stop.clear()
        if entry.batch_size is None:  # a stage that runs itself (decide): any batch will do
            entry = replace(entry, batch_size=lambda _settings: DEFAULT_BATCH)
        stage = consumer_stage(entry, self.settings, handler, self.io, group_id)
        if open_close:
            handler.open()
        consumer = stage.loop.consumers(self.settings, stage.loop.group_id)
        consumer.subscribe(stage.loop.topics)
        handled = 0
        try:
            while count := stage.loop.step(consumer):
                handled += count
        finally:
            consumer.close()
            if open_close:
                handler.close()
        return handled

    def records(self, topic: Topic[Any]) -> list[MemoryMessage]:
        """What is on one topic of the flow now."""
        return self.topics.messages(topic.name(self.settings))

    def values(self, topic: Topic[Any]) -> list[Any]:
        """The topic's records, decoded by its serializer."""
        return [topic.serializer.loads(m.value()) for m in self.records(topic)]

    def committed(self, entry: Stage, group_id: str | None = None) -> dict[str, int]:
        """The offsets the stage's group committed, as ``{"topic[partition]": offset}``."""
        group = self.topics.commits.get(group_id or entry.group(self.settings), {})
        return {f"{t}[{p}]": offset for (t, p), offset in sorted(group.items())}
