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
from collections.abc import Callable

import redis.asyncio as aioredis

from control.cluster import redis_keys as keys
from control.events.feed import follow_control_events
from schemas.events import ControlEvent, Decision
from schemas.serializers import ContractError
from vigil.core.flow import CONTROL, DECISIONS
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 1.0

DecisionHandler = Callable[[Decision], None]
ControlHandler = Callable[[ControlEvent], None]


async def listen_redis(settings: Settings, client: aioredis.Redis, gateway_id: str,
                       on_decision: DecisionHandler, on_control: ControlHandler,
                       subscribed: asyncio.Event) -> None:
    """Subscribe to the reply and control channels until cancelled; resubscribe on errors."""
    replies = keys.reply_channel(settings.deployment.namespace, gateway_id)
    control = keys.control_channel(settings.deployment.namespace)
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
            log.error("redis subscription lost url=%s error=%s; retrying", settings.redis.url,
                      exc)
            await asyncio.sleep(RECONNECT_DELAY_S)
        finally:
            await pubsub.aclose()


def _dispatch(is_reply: bool, data: bytes, on_decision: DecisionHandler,
              on_control: ControlHandler) -> None:
    try:
        if is_reply:
            on_decision(DECISIONS.serializer.loads(data))
        else:
            on_control(CONTROL.serializer.loads(data))
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
        self.topic = CONTROL.name(settings)
        self.thread = threading.Thread(target=self._run, name="control-topic", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        def hand_to_loop(event: ControlEvent) -> None:
            self.loop.call_soon_threadsafe(self.on_control, event)

        try:
            follow_control_events(self.settings, self.stop, hand_to_loop)
        except RuntimeError as exc:  # the event loop closed first
            log.info("control listener stopping: %s", exc)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
