"""Kafka client configuration shared by every stage (confluent-kafka)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from vigil.core.settings import Settings

T = TypeVar("T")
# Answers that mean "ask again in a moment" (librdkafka does not mark them all retriable).
TRANSIENT = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
             KafkaError.COORDINATOR_LOAD_IN_PROGRESS}

# The Java client's partitioner: every producer of every stage uses it, so a client's frames,
# results and decisions land in partitions with the same number.
PARTITIONER = "murmur2_random"


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Durable, idempotent producer settings (acks=all, no duplicates on retry)."""
    return {
        "bootstrap.servers": settings.kafka.bootstrap,
        "partitioner": PARTITIONER,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "client.id": f"{settings.deployment.namespace}-producer",
        **overrides,
    }


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """At-least-once consumer settings: offsets are committed by the caller after its work."""
    return {
        "bootstrap.servers": settings.kafka.bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        **overrides,
    }


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    return Producer(producer_config(settings, **overrides))


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(settings, group_id, **overrides))


def produce_all(producer: Producer, topic: str, records: Iterable[tuple[bytes | str, bytes]],
                timeout_s: float) -> list[str]:
    """Produce keyed records and wait for every delivery (anything queued earlier included).

    Returns what went wrong, empty when every record reached the broker: callers that commit
    offsets or report success afterwards must check it.
    """
    problems: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            problems.append(err.str())

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
    left = producer.flush(timeout_s)
    if left:
        problems.append(f"{left} messages not delivered within {timeout_s:.0f} s")
    return problems


def retrying(call: Callable[[], T], timeout_s: float) -> T:
    """``call()``, again while it raises a retriable Kafka error, until ``timeout_s``.

    Right after a topic is created, or while a leader or a group coordinator moves, the
    broker answers NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE or NOT_COORDINATOR for a
    moment; that is not an answer.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            transient = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in TRANSIENT)
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float) -> tuple[int, int]:
    """A partition's (low, high) offsets from the broker, retrying retriable errors."""
    low, high = retrying(lambda: consumer.get_watermark_offsets(tp, timeout=timeout_s,
                                                                cached=False), timeout_s)
    return int(low), int(high)


def read_one(consumer: Consumer, topic: str, partition: int, offset: int,
             timeout_s: float) -> Message:
    """The message at topic[partition]@offset, read by assignment (no group, no commit).

    The caller checks first that the offset is within the partition's watermarks. Raises
    KafkaException on a consumer error and TimeoutError when it does not come in time.
    """
    consumer.assign([TopicPartition(topic, partition, offset)])
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(err)
            if msg.partition() == partition and msg.offset() == offset:
                return msg
        raise TimeoutError(f"timed out after {timeout_s}s reading {topic}[{partition}]@{offset}")
    finally:
        consumer.unassign()
