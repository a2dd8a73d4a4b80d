"""Producing frames to ``{ns}.frames`` from the gateway's event loop.

confluent-kafka's producer is thread-safe and calls delivery callbacks from ``poll``; a
daemon thread polls, and each callback is handed back to the event loop, so the session that
sent the frame learns of a failed delivery and tells its client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from confluent_kafka import KafkaError, Message, Producer

from schemas.events import FrameHeaders
from schemas.serializers import Frame
from vigil.core.flow import FRAMES
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

# Called on the event loop with None (delivered) or the error text.
DeliveryCallback = Callable[[str | None], None]
DELIVERY_TIMEOUT_MS = 10_000
QUEUE_MAX_MESSAGES = 10_000


class ProducerFullError(RuntimeError):
    """The producer's local queue is full (Kafka is slower than the clients)."""


class FrameProducer:
    """Frames to Kafka (key client_id, JPEG value, FrameHeaders as headers)."""

    def __init__(self, settings: Settings, client_id: str,
                 producer: Producer | None = None) -> None:
        self.topic = FRAMES.name(settings)
        self._producer = producer or make_producer(settings, **{
            "client.id": client_id,
            "message.timeout.ms": DELIVERY_TIMEOUT_MS,
            "queue.buffering.max.messages": QUEUE_MAX_MESSAGES,
        })
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._poll, name="frame-producer", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def produce(self, headers: FrameHeaders, jpeg: bytes, done: DeliveryCallback) -> None:
        """Queue one frame; ``done`` runs on the event loop once Kafka answers."""
        value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
        loop = self._loop
        assert loop is not None, "start() the producer first"

        def delivered(err: KafkaError | None, msg: Message) -> None:
            text = None if err is None else err.str()
            if err is not None:
                log.warning("frame delivery failed topic=%s client_id=%s frame_id=%s error=%s",
                            self.topic, headers.client_id, headers.frame_id, text)
            try:
                loop.call_soon_threadsafe(done, text)
            except RuntimeError:  # the loop closed while the frame was in flight
                log.info("delivery result after shutdown frame_id=%s error=%s",
                         headers.frame_id, text)

        try:
            self._producer.produce(self.topic, key=headers.client_id.encode(), value=value,
                                   headers=list[tuple[str, str | bytes | None]](kafka_headers),
                                   on_delivery=delivered)
        except BufferError:
            raise ProducerFullError("the gateway's Kafka queue is full") from None

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop polling."""
        left = self._producer.flush(timeout_s)
        if left:
            log.warning("gateway stopping with %d frames not delivered", left)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
