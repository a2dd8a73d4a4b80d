"""What the face and phone processors share: a batch of frames in, one result each out.

Each processor is a consumer group on ``frames``. For a batch it parses the headers, decodes
the JPEGs (a frame that fails either goes to ``frames.dlq`` with the error in a header), runs
its model on every good frame at once, produces one result per frame, flushes the producer and
only then lets the loop commit the offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from confluent_kafka import KafkaException, Message, Producer

from processors.vision.imaging import BadImageError, Image, decode_frame
from schemas.events import Event, FrameHeaders, FrameRef, now_ms
from schemas.serializers import ContractError, JsonSerializer
from vigil.core import metrics
from vigil.core.kafka import produce_all
from vigil.core.settings import Settings
from vigil.core.stage_loop import dead_letter, where
from vigil.core.topics import FRAMES, Topic

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

FLUSH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DecodedFrame:
    """A frame ready for a model: its headers, where it lives in Kafka, and its pixels."""

    headers: FrameHeaders
    ref: FrameRef
    image: Image


class CommonFields(TypedDict):
    """The fields every per-frame result copies from its frame."""

    frame_id: str
    client_id: str
    session_id: str
    seq: int
    frame: FrameRef
    captured_at: int
    received_at: int


def common_fields(frame: DecodedFrame) -> CommonFields:
    """The fields every per-frame result copies from its frame."""
    h = frame.headers
    return {
        "frame_id": h.frame_id, "client_id": h.client_id, "session_id": h.session_id,
        "seq": h.seq, "frame": frame.ref, "captured_at": h.captured_at,
        "received_at": h.received_at,
    }


def decode_batch(
    messages: Sequence[Message], settings: Settings, producer: Producer, stage: str
) -> list[DecodedFrame]:
    """The decodable frames of a batch; the others are dead-lettered (not yet flushed)."""
    frames = []
    for msg in messages:
        try:
            headers = FRAMES.serializer.headers_from_kafka(msg.headers())
            image = decode_frame(msg.value() or b"", max_pixels=settings.max_image_pixels)
        except (ContractError, BadImageError) as exc:
            dead_letter(producer, settings, msg, str(exc), stage)
            continue
        ref = FrameRef(topic=str(msg.topic()), partition=int(msg.partition() or 0),
                       offset=int(msg.offset() or 0))
        frames.append(DecodedFrame(headers, ref, image))
    return frames


@dataclass
class FrameStage(Generic[E]):
    """One model processor: ``infer`` turns decoded frames into one ``E`` result each."""

    settings: Settings
    stage: str
    output: Topic[JsonSerializer[E]]
    infer: Callable[[list[DecodedFrame]], list[E]]
    producer: Producer

    def handle(self, messages: list[Message]) -> None:
        frames = decode_batch(messages, self.settings, self.producer, self.stage)
        results = self.infer(frames) if frames else []
        if len(results) != len(frames):
            raise RuntimeError(f"{self.stage}: {len(results)} results for {len(frames)} frames")
        done = now_ms()
        for frame in frames:
            metrics.FRAME_AGE.labels(self.stage).observe(
                max(0, done - frame.headers.received_at) / 1000)
        # The loop commits after this returns: every result and dead letter must be on the
        # broker first. A failure raises, so the batch is not committed and is seen again.
        problems = produce_all(
            self.producer, self.output.name(self.settings),
            [(f.headers.client_id, self.output.serializer.dumps(r))
             for f, r in zip(frames, results, strict=True)],
            FLUSH_TIMEOUT_S)
        if problems:
            raise KafkaException(f"{self.stage}: results not delivered: {problems[:3]} "
                                 f"(batch from {where(messages[0])}); not committing")
