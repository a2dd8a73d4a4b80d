"""The gateway's frame path: client messages of an admitted session, frames to Kafka.

For each binary message: number it (the preceding ``frame`` text message, else the server's
count from 1), check the JPEG magic bytes (``error: bad_image``), refuse it while the gateway
stops (``error: shutting_down``), drop it while the client is paused (counted, reason
``paused``), apply the per-client rate and in-flight limits
(``error: rate_limited``), then produce it to ``{ns}.frames``. A failed delivery is reported
to the client as ``error: delivery_failed``. A message over ``max_frame_bytes`` is refused by
the WebSocket layer itself, which closes with 1009.
"""

from __future__ import annotations

import logging
import time
import uuid
from functools import partial

from confluent_kafka import KafkaException
from websockets.exceptions import ConnectionClosedError

from ingest import protocol
from ingest.producer import FrameProducer, ProducerFullError
from ingest.protocol import CloseCode, ProtocolError, UnknownMessage
from ingest.session import STAGE, Session
from schemas.events import FrameHeaders, now_ms
from vigil.core.metrics import FRAMES_DROPPED, FRAMES_IN
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


class FramePath:
    """Reads an admitted session's messages and produces its frames."""

    def __init__(self, settings: Settings, producer: FrameProducer) -> None:
        self.settings = settings
        self.producer = producer

    async def serve(self, session: Session) -> None:
        """Handle the session's messages until it closes."""
        try:
            async for message in session.ws:
                if session.closing:
                    break
                if isinstance(message, str):
                    self.on_text(session, message)
                else:
                    self.on_frame(session, message)
        except ConnectionClosedError:
            sent = session.ws.protocol.close_sent
            if sent is not None and sent.code == CloseCode.TOO_BIG:
                FRAMES_DROPPED.labels(STAGE, "too_big").inc()
                log.warning("message over max_frame_bytes=%d client_id=%s session_id=%s: "
                            "closed 1009", self.settings.gateway.max_frame_bytes, session.client_id,
                            session.session_id)
            raise

    def on_text(self, session: Session, raw: str) -> None:
        try:
            session.pending = protocol.parse_text(raw)
        except UnknownMessage as exc:
            session.error("unknown_message", str(exc))
        except ProtocolError as exc:
            session.error("bad_message", str(exc))

    def on_frame(self, session: Session, data: bytes) -> None:
        received_at = now_ms()
        seq, captured_at = session.frame_numbers(received_at)
        FRAMES_IN.inc()
        if not protocol.is_jpeg(data):
            session.drop("bad_image", "bad_image", f"frame {seq} is not a JPEG image", seq)
            return
        if session.draining:
            session.drop("shutting_down", "shutting_down", f"frame {seq} not taken: the "
                         "gateway is stopping; reconnect", seq)
            return
        if session.paused:
            session.drop("paused")
            return
        why = session.admit_frame(
            self.settings.gateway.max_in_flight, self.settings.gateway.in_flight_timeout_s
        )
        if why is not None:
            session.drop("rate_limited", "rate_limited", f"frame {seq} dropped: {why}", seq)
            return
        headers = FrameHeaders(frame_id=uuid.uuid4().hex, client_id=session.client_id,
                               session_id=session.session_id, seq=seq,
                               captured_at=captured_at, received_at=received_at)
        session.in_flight[headers.frame_id] = time.monotonic()
        try:
            self.producer.produce(headers, data, partial(self._delivered, session,
                                                         headers.frame_id, seq))
        except (ProducerFullError, KafkaException) as exc:
            session.in_flight.pop(headers.frame_id, None)
            session.drop("kafka_unavailable", "delivery_failed", f"frame {seq} was not "
                         f"stored: {exc}", seq)

    @staticmethod
    def _delivered(session: Session, frame_id: str, seq: int, error: str | None) -> None:
        if error is None:
            return
        session.in_flight.pop(frame_id, None)
        session.drop("delivery_failed", "delivery_failed", f"frame {seq} was not stored: "
                     f"{error}", seq)

