"""What the face and phone processors share: a batch of frames in, one result each out.

Each processor is a consumer group on ``frames``. For a batch it parses the headers (a frame
whose headers are bad goes to ``frames.dlq`` only: it names no client to answer), sorts the
frames (triage.py: stale frames and ended sessions' frames skip the models), decodes the
JPEGs of the rest, runs its model on every decodable frame at once, and produces one result
per frame. A frame that cannot be decoded is dead-lettered with the error in a header *and*
gets a result marked ``unprocessed: bad_frame``, so the decide stage answers it (reason
``bad_frame``) like any other frame. The producer is flushed before the loop commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from confluent_kafka import KafkaException, Message, Producer

from processors.triage import FrameTriage
from processors.vision.imaging import BadImageError, Image, decode_frame
from schemas.events import Event, FrameHeaders, FrameRef, Unprocessed, now_ms
from schemas.serializers import ContractError, JsonSerializer
from vigil.core import metrics
from vigil.core.flow import FRAMES
from vigil.core.flow_types import Topic
from vigil.core.kafka import produce_all
from vigil.core.settings import Settings
from vigil.core.stage_loop import dead_letter, where

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

FLUSH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FrameRecord:
    """A frame's headers and where it lives in Kafka, with its message."""

    headers: FrameHeaders
    ref: FrameRef
    message: Message


@dataclass(frozen=True)
class DecodedFrame:
    """A frame ready for a model: its headers, where it lives in Kafka, and its pixels."""

    headers: FrameHeaders
    ref: FrameRef
    image: Image


@dataclass(frozen=True)
class UnprocessedFrame:
    """A frame the models did not see, why, and the decoding error if that was why."""

    headers: FrameHeaders
    ref: FrameRef
    why: Unprocessed
    error: str | None = None


class CommonFields(TypedDict):
    """The fields every per-frame result copies from its frame."""

    frame_id: str
    client_id: str
    session_id: str
    seq: int
    frame: FrameRef
    captured_at: int
    received_at: int


def common_fields(frame: DecodedFrame | UnprocessedFrame) -> CommonFields:
    """The fields every per-frame result copies from its frame."""
    h = frame.headers
    return {
        "frame_id": h.frame_id, "client_id": h.client_id, "session_id": h.session_id,
        "seq": h.seq, "frame": frame.ref, "captured_at": h.captured_at,
        "received_at": h.received_at,
    }


def parse_batch(messages: Sequence[Message], settings: Settings, producer: Producer,
                stage: str) -> list[FrameRecord]:
    """The batch's frames with valid headers; the others are dead-lettered (not yet flushed)."""
    records = []
    for msg in messages:
        try:
            headers = FRAMES.serializer.headers_from_kafka(msg.headers())
        except ContractError as exc:
            dead_letter(producer, settings, msg, str(exc), stage)
            continue
        ref = FrameRef(topic=str(msg.topic()), partition=int(msg.partition() or 0),
                       offset=int(msg.offset() or 0))
        records.append(FrameRecord(headers, ref, msg))
    return records


@dataclass
class FrameStage(Generic[E]):
    """One model processor: ``infer`` turns decoded frames into one ``E`` result each, and
    ``unprocessed`` builds the result of a frame the models did not see."""

    settings: Settings
    stage: str
    output: Topic[JsonSerializer[E]]
    infer: Callable[[list[DecodedFrame]], list[E]]
    unprocessed: Callable[[UnprocessedFrame], E]
    producer: Producer
    triage: FrameTriage

    def handle(self, messages: list[Message]) -> None:
        records = parse_batch(messages, self.settings, self.producer, self.stage)
        decoded, skipped = self._sort(records)
        results = self.infer(decoded) if decoded else []
        if len(results) != len(decoded):
            raise RuntimeError(f"{self.stage}: {len(results)} results for {len(decoded)} frames")
        done = now_ms()
        for frame in decoded:
            metrics.FRAME_AGE.labels(self.stage).observe(
                max(0, done - frame.headers.received_at) / 1000)
        serializer = self.output.serializer
        outputs = [(f.headers.client_id, serializer.dumps(r))
                   for f, r in zip(decoded, results, strict=True)]
        outputs += [(f.headers.client_id, serializer.dumps(self.unprocessed(f)))
                    for f in skipped]
        # The loop commits after this returns: every result and dead letter must be on the
        # broker first. A failure raises, so the batch is not committed and is seen again.
        problems = produce_all(self.producer, self.output.name(self.settings), outputs,
                               FLUSH_TIMEOUT_S)
        if problems:
            raise KafkaException(f"{self.stage}: results not delivered: {problems[:3]} "
                                 f"(batch from {where(messages[0])}); not committing")

    def _sort(self, records: list[FrameRecord]
              ) -> tuple[list[DecodedFrame], list[UnprocessedFrame]]:
        """Frames for the models (decoded) and frames answered without them."""
        decoded: list[DecodedFrame] = []
        skipped: list[UnprocessedFrame] = []
        verdicts = self.triage.sort([r.headers for r in records])
        for record, why in zip(records, verdicts, strict=True):
            if why is not None:
                skipped.append(UnprocessedFrame(record.headers, record.ref, why))
                metrics.UNPROCESSED_FRAMES.labels(self.stage, why.value).inc()
                continue
            try:
                image = decode_frame(record.message.value() or b"",
                                     max_pixels=self.settings.models.max_image_pixels)
            except BadImageError as exc:
                dead_letter(self.producer, self.settings, record.message, str(exc), self.stage)
                skipped.append(UnprocessedFrame(record.headers, record.ref,
                                                Unprocessed.BAD_FRAME, str(exc)))
                metrics.UNPROCESSED_FRAMES.labels(self.stage, Unprocessed.BAD_FRAME.value).inc()
                continue
            decoded.append(DecodedFrame(record.headers, record.ref, image))
        if skipped:
            counts = {w.value: sum(1 for s in skipped if s.why is w) for w in Unprocessed}
            log.info("stage=%s frames answered without the models: %s", self.stage,
                     {why: n for why, n in counts.items() if n})
        return decoded, skipped
