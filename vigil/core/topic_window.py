"""Reading a topic between two times, then stopping: for replays and reports, not stages.

Partitions are assigned directly: no group membership, nothing committed, so a reader leaves
no trace in the cluster. Each partition is read from its first message at or after
``start_ms`` (``offsets_for_times``; its beginning when None) to its first message after
``end_ms``, or to its end offset as it was when reading began: a topic that keeps growing
does not keep the reader going.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from vigil.core.errors import VigilError
from vigil.core.kafka import make_consumer, watermarks
from vigil.core.settings import Settings


class TopicWindowError(VigilError, RuntimeError):
    """A topic that cannot be read: missing, unreachable, or stalled."""


def _first_at(consumer: Consumer, topic: str, partitions: list[int], at_ms: int,
              highs: dict[int, int], timeout_s: float) -> dict[int, int]:
    """Per partition, the offset of the first message at or after at_ms (its end if none)."""
    found = consumer.offsets_for_times([TopicPartition(topic, p, at_ms) for p in partitions],
                                       timeout=timeout_s)
    return {tp.partition: tp.offset if tp.offset >= 0 else highs[tp.partition]
            for tp in found}


def _bounds(consumer: Consumer, topic: str, start_ms: int | None, end_ms: int | None,
            timeout_s: float) -> dict[int, tuple[int, int]]:
    """Per partition with something to read: (first offset, offset after the last)."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise TopicWindowError(f"topic {topic} does not exist")
    partitions = sorted(metadata.partitions)
    marks = {p: watermarks(consumer, TopicPartition(topic, p), timeout_s) for p in partitions}
    lows = {p: low for p, (low, _high) in marks.items()}
    highs = {p: high for p, (_low, high) in marks.items()}
    starts = (lows if start_ms is None
              else _first_at(consumer, topic, partitions, start_ms, highs, timeout_s))
    ends = (highs if end_ms is None
            else _first_at(consumer, topic, partitions, end_ms + 1, highs, timeout_s))
    return {p: (max(starts[p], lows[p]), min(ends[p], highs[p])) for p in partitions
            if max(starts[p], lows[p]) < min(ends[p], highs[p])}


def read_window(settings: Settings, topic: str, start_ms: int | None = None,
                end_ms: int | None = None, stall_s: float = 30.0) -> Iterator[Message]:
    """Every message of ``topic`` in the window (see the module docstring), partition by
    partition in offset order; TopicWindowError when no message comes for ``stall_s``."""
    consumer = make_consumer(
        settings,
        f"{settings.deployment.namespace}-reader-{uuid.uuid4().hex}",
        **{"enable.auto.offset.store": False, "enable.partition.eof": True},
    )
    try:
        try:
            todo = _bounds(consumer, topic, start_ms, end_ms, stall_s)
        except KafkaException as exc:
            raise TopicWindowError(f"reading {topic} at {settings.kafka.bootstrap}: "
                                   f"{exc.args[0]}") from None
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _e) in todo.items()])
        last_progress = time.monotonic()
        while todo:
            msg = consumer.poll(0.5)
            if msg is None:
                if time.monotonic() - last_progress > stall_s:
                    raise TopicWindowError(f"reading {topic}: nothing for {stall_s:.0f} s, "
                                           f"partitions left {sorted(todo)}")
                continue
            last_progress = time.monotonic()
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            err = msg.error()
            if err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise TopicWindowError(f"reading {topic}[{partition}]: {err}")
            if partition not in todo:
                continue  # a partition already read to its end: a message past the window
            if err is None and offset < todo[partition][1]:
                yield msg
            # EOF: at the end offset as it was when reading began, or beyond it.
            if err is not None or offset + 1 >= todo[partition][1]:
                del todo[partition]
                consumer.pause([TopicPartition(topic, partition)])
    finally:
        consumer.close()
