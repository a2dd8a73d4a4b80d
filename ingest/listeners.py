"""What the gateway hears: decisions on its Redis reply channel, and control events.

Control events come two ways, and the gateway acts on whichever arrives first (the handler
ignores an event_id it has seen): the ``{ns}:control`` Redis channel (the control plane
publishes every change there, so a block reaches the socket within milliseconds) and the
``{ns}.control`` Kafka topic (other stages, for example the decide stage's escalation to
``block``, produce only there).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis
from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from control import redis_keys as keys
from schemas.events import ControlEvent, Decision
from schemas.serializers import CONTROL, DECISIONS, ContractError
from vigil.kafka import make_consumer
from vigil.settings import Settings
from vigil.topics import CONTROL as CONTROL_TOPIC

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 1.0
TOPIC_WAIT_S = 5.0

DecisionHandler = Callable[[Decision], None]
ControlHandler = Callable[[ControlEvent], None]


async def listen_redis(settings: Settings, client: aioredis.Redis, gateway_id: str,
                       on_decision: DecisionHandler, on_control: ControlHandler,
                       subscribed: asyncio.Event) -> None:
    """Subscribe to the reply and control channels until cancelled; resubscribe on errors."""
    replies = keys.reply_channel(settings.namespace, gateway_id)
    control = keys.control_channel(settings.namespace)
    while True:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(replies, control)
            subscribed.set()
            log.info("listening channels=%s,%s", replies, control)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                _dispatch(channel == replies, message["data"], on_decision, on_control)
        except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
            subscribed.clear()
            log.error("redis subscription lost url=%s error=%s; retrying", settings.redis_url,
                      exc)
            await asyncio.sleep(RECONNECT_DELAY_S)
        finally:
            await pubsub.aclose()


def _dispatch(is_reply: bool, data: bytes, on_decision: DecisionHandler,
              on_control: ControlHandler) -> None:
    try:
        if is_reply:
            on_decision(DECISIONS.loads(data))
        else:
            on_control(CONTROL.loads(data))
    except ContractError as exc:
        log.warning("ignoring bad %s message: %s", "reply" if is_reply else "control", exc)


class KafkaControlListener:
    """Reads new events of the control topic on a daemon thread (no group, no commits)."""

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop,
                 on_control: ControlHandler) -> None:
        self.settings = settings
        self.loop = loop
        self.on_control = on_control
        self.stop = threading.Event()
        self.topic = settings.topic(CONTROL_TOPIC)
        self.thread = threading.Thread(target=self._run, name="control-topic", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        # Assigned, not subscribed: every gateway must see every event, with no group join.
        consumer = make_consumer(self.settings, f"{self.settings.namespace}-gateway-"
                                 f"{uuid.uuid4().hex[:8]}", **{"auto.offset.reset": "latest"})
        try:
            while not self.stop.is_set() and not self._assign(consumer):
                self.stop.wait(TOPIC_WAIT_S)
            while not self.stop.is_set():
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                try:
                    event = CONTROL.loads(msg.value())
                except ContractError as exc:
                    log.warning("ignoring bad control event %s[%d]@%d: %s", msg.topic(),
                                msg.partition(), msg.offset(), exc)
                    continue
                self.loop.call_soon_threadsafe(self.on_control, event)
        except RuntimeError as exc:  # the event loop closed first
            log.info("control listener stopping: %s", exc)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> bool:
        try:
            metadata = consumer.list_topics(self.topic, timeout=5)
        except KafkaException as exc:
            log.warning("control topic metadata unavailable topic=%s error=%s", self.topic, exc)
            return False
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            log.warning("control topic %s not found; gateway reacts to Redis control events "
                        "only until it exists", self.topic)
            return False
        consumer.assign([TopicPartition(self.topic, p, OFFSET_END) for p in topic.partitions])
        log.info("reading control topic=%s partitions=%d", self.topic, len(topic.partitions))
        return True

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
