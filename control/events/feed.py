"""Following the ``control`` topic from its end, as every gateway and face processor does.

Each follower must see every event, so it assigns itself all partitions at their end instead
of joining a consumer group (no group to rebalance, nothing committed, nothing left behind).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from schemas.events import ControlEvent
from schemas.serializers import ContractError
from vigil.core import metrics
from vigil.core.flow import CONTROL
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

TOPIC_WAIT_S = 2.0


def _assign_at_end(consumer: Consumer, topic: str) -> bool:
    try:
        metadata = consumer.list_topics(topic, timeout=5)
    except KafkaException as exc:
        log.warning("control topic metadata unavailable topic=%s error=%s", topic, exc)
        return False
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        log.warning("control topic %s not found yet; waiting for it", topic)
        return False
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in found.partitions])
    log.info("following control topic=%s partitions=%d", topic, len(found.partitions))
    return True


def _consumer_error(topic: str, error: KafkaError) -> None:
    """A consumer error while following: logged and counted, the follower keeps going
    (librdkafka retries by itself; partition EOF is not an error here)."""
    if error.code() == KafkaError._PARTITION_EOF:
        return
    metrics.CONSUMER_ERRORS.labels("control-follower", error.name()).inc()
    log.warning("control follower consumer error topic=%s error=%s", topic, error)


def follow_control_events(settings: Settings, stop: threading.Event,
                          on_event: Callable[[ControlEvent], None],
                          on_following: Callable[[], None] | None = None) -> None:
    """Call ``on_event`` for each new control event until ``stop`` is set (blocks).

    ``on_following`` runs once the follower is at the topic's end: from then on no event is
    missed, so it is where a follower reads the state that events before it changed."""
    topic = CONTROL.name(settings)
    consumer = make_consumer(settings, f"{settings.deployment.namespace}-control-follower-"
                             f"{uuid.uuid4().hex[:8]}", **{"auto.offset.reset": "latest"})
    try:
        while not stop.is_set() and not _assign_at_end(consumer, topic):
            stop.wait(TOPIC_WAIT_S)
        if on_following is not None and not stop.is_set():
            on_following()
        while not stop.is_set():
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                _consumer_error(topic, error)
                continue
            try:
                event = CONTROL.serializer.loads(msg.value())
            except ContractError as exc:
                log.warning("ignoring bad control event %s[%d]@%d: %s", msg.topic(),
                            msg.partition(), msg.offset(), exc)
                continue
            on_event(event)
    finally:
        consumer.close()
