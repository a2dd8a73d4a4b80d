"""The evidence sink: every non-allow decision, with its frame, encrypted at rest.

For each decision that is not ``allow`` the sink fetches the exact frame the decision names
(``frames`` topic, partition, offset) with one reused, group-less consumer (assign + seek, no
commits), and writes frame and decision as one encrypted file (see ``sinks.evidence_store``).
The file is fsynced and renamed into place before the loop commits the batch, so a crash
re-processes the batch and rewrites the same file. A frame gone from Kafka (retention) leaves
the decision alone with a note. Old days are purged every ``evidence_purge_interval_s``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from control.users.client_keys import ClientForgottenError
from control.users.crypto import load_key
from control.users.repository import open_repository
from schemas.events import Action, Decision, FrameRef
from schemas.serializers import ContractError, Frame
from sinks.evidence_store import EvidenceError, expired, purge_evidence, write_evidence
from vigil.core import metrics
from vigil.core.flow import DECISIONS, EVIDENCE_STAGE, FRAMES
from vigil.core.flow_types import BatchHandler, Stage, StageIO
from vigil.core.kafka import make_consumer, read_one
from vigil.core.settings import Settings
from vigil.core.stage_loop import decode_or_dead_letter, where

log = logging.getLogger(__name__)
STAGE = EVIDENCE_STAGE.name
MISSING_PARTITION = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
                     KafkaError._UNKNOWN_TOPIC)


class FrameFetcher:
    """Reads single frames by (partition, offset) with one consumer that never commits."""

    def __init__(self, settings: Settings, consumers: Callable[..., Consumer] = make_consumer
                 ) -> None:
        self.topic = FRAMES.name(settings)
        self.timeout_s = settings.sinks.frame_fetch_timeout_s
        # The group id is only required by the client; nothing is subscribed or committed.
        self.consumer: Consumer = consumers(
            settings, f"{EVIDENCE_STAGE.group(settings)}-fetch",
            **{"auto.offset.reset": "error", "enable.auto.offset.store": False})

    def fetch(self, ref: FrameRef) -> tuple[Frame | None, str | None]:
        """The frame at ref, or (None, why) when it is not (or no longer) in Kafka."""
        if ref.topic != self.topic:
            return None, f"frame ref names topic {ref.topic}, not {self.topic}"
        name = f"{ref.topic}[{ref.partition}]@{ref.offset}"
        try:
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(ref.topic, ref.partition), timeout=self.timeout_s, cached=False)
        except KafkaException as exc:
            if exc.args[0].code() in MISSING_PARTITION:
                return None, f"frame {name} unavailable: no such partition"
            # A broker that does not answer is not a missing frame: leave the batch uncommitted.
            raise EvidenceError(f"fetching {name}: {exc.args[0]}") from None
        if ref.offset < low:
            return None, f"frame {name} no longer in Kafka (retention; offsets from {low})"
        if ref.offset >= high:
            return None, f"frame {name} not in Kafka (the partition ends before {high})"
        try:
            msg = read_one(self.consumer, ref.topic, ref.partition, ref.offset, self.timeout_s)
        except (KafkaException, TimeoutError) as exc:
            raise EvidenceError(f"fetching {name}: {exc}") from None
        try:
            return FRAMES.serializer.loads(msg.value(), msg.headers()), None
        except ContractError as exc:
            return None, f"frame {name} breaks the frames contract: {exc}"

    def close(self) -> None:
        self.consumer.close()


class EvidenceSink(BatchHandler):
    """The evidence stage's handler (on ``decisions``); see the module docstring."""

    def __init__(self, settings: Settings, io: StageIO | None = None) -> None:
        self.settings = settings
        io = io or StageIO()
        load_key(settings)  # fails now, not at the first item; creates the key file once
        self.repo = open_repository(settings)  # the clients' keys, one per client
        self.fetcher = FrameFetcher(settings, io.consumer)
        self.dlq: Producer = io.producer(settings)
        self.stop = io.stop
        # Purging runs on its own thread (so it happens when no decisions come); the lock keeps
        # it from removing a day folder while a replayed old decision is written into it.
        self._files = threading.Lock()
        self._purger: threading.Thread | None = None

    def open(self) -> None:
        """Start purging every ``evidence_purge_interval_s`` (own thread)."""
        self._purger = threading.Thread(target=self._purge_every_interval,
                                        name="evidence-purge", daemon=True)
        self._purger.start()

    def close(self) -> None:
        """Stop purging, then close every client."""
        self.stop.set()
        if self._purger is not None:
            self._purger.join(timeout=30)
        self.fetcher.close()
        self.dlq.flush(10)
        self.repo.close()

    def handle(self, batch: list[Message]) -> None:
        """Write the evidence of a batch durably; the loop commits when this returns."""
        for msg, decision in decode_or_dead_letter(batch, DECISIONS.serializer, self.dlq,
                                                   self.settings,
                                                   STAGE):
            if decision.action is not Action.ALLOW:
                self.record(decision, where(msg))

    def record(self, decision: Decision, source: str) -> None:
        """Fetch the decision's frame and write both; the decision alone if the frame is gone."""
        if expired(self.settings, decision.decided_at):
            log.info("evidence past retention, not kept source=%s client_id=%s frame_id=%s",
                     source, decision.client_id, decision.frame_id)
            metrics.FRAMES_DROPPED.labels(STAGE, "past_retention").inc()
            return
        frame, note = self.fetcher.fetch(decision.frame)
        if frame is not None and (frame.headers.frame_id != decision.frame_id
                                  or frame.headers.client_id != decision.client_id):
            note = (f"frame at the ref is {frame.headers.client_id}/{frame.headers.frame_id}, "
                    f"not {decision.client_id}/{decision.frame_id}")
            frame = None
        if note:
            log.warning("evidence without frame source=%s client_id=%s frame_id=%s note=%s",
                        source, decision.client_id, decision.frame_id, note)
            metrics.FRAMES_DROPPED.labels(STAGE, "frame_missing").inc()
        try:
            with self._files:
                path = write_evidence(self.settings, decision, frame.headers if frame else None,
                                      frame.jpeg if frame else None, note, self.repo.keys)
        except ClientForgottenError as exc:
            # Frames decided after the client was forgotten: nothing of them is kept (the
            # audit log still has the decision).
            log.info("evidence not kept source=%s frame_id=%s: %s", source, decision.frame_id,
                     exc)
            metrics.FRAMES_DROPPED.labels(STAGE, "client_forgotten").inc()
            return
        metrics.SINK_OUTPUTS.labels(STAGE, "with_frame" if frame else "decision_only").inc()
        log.debug("evidence source=%s client_id=%s frame_id=%s path=%s", source,
                  decision.client_id, decision.frame_id, path)

    def purge(self) -> int:
        """Delete evidence older than the retention period now; returns the items removed."""
        with self._files:
            removed = purge_evidence(self.settings)
        metrics.SINK_OUTPUTS.labels(STAGE, "purged").inc(removed)
        return removed

    def _purge_every_interval(self) -> None:
        interval = self.settings.sinks.evidence_purge_interval_s
        while True:
            try:
                self.purge()
            except OSError as exc:  # a full or unreadable disk must not stop the sink
                log.error("evidence purge failed: %s", exc)
            if self.stop.wait(interval):
                return


def build(_entry: Stage, settings: Settings, io: StageIO) -> EvidenceSink:
    """The flow table's builder."""
    return EvidenceSink(settings, io)
