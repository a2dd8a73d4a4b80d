"""The at-least-once consumer loop every processor and sink runs.

Poll up to a batch size or a batch deadline, hand the batch to the stage, and commit the
offsets only after the stage returns — the stage makes its output durable first (produced and
flushed, fsynced, published). A crash in between means the batch is seen again, which every
downstream stage tolerates because events carry ``frame_id``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from schemas.events import Event
from schemas.serializers import ContractError, JsonSerializer
from vigil.core import metrics
from vigil.core.dead_letter import dead_letter_headers, record_dead_letter
from vigil.core.flow import FRAMES_DLQ
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Message]], None]
E = TypeVar("E", bound=Event)
LAG_EVERY_S = 5.0


def where(msg: Message) -> str:
    """topic[partition]@offset, the way every log line names a message."""
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"


def next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """The offsets to commit after a batch: one past the last message of each partition."""
    last: dict[tuple[str, int], int] = {}
    for msg in messages:
        key = (str(msg.topic()), int(msg.partition() or 0))
        last[key] = max(last.get(key, -1), int(msg.offset() or 0))
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]


def dead_letter(
    producer: Producer, settings: Settings, msg: Message, error: str, stage: str
) -> None:
    """Send a message as received to the DLQ with the error in a header (caller flushes)."""
    producer.produce(FRAMES_DLQ.name(settings), key=msg.key(), value=msg.value(),
                     headers=dead_letter_headers(msg.headers(), error, stage, where(msg)))
    record_dead_letter(stage, where(msg), error)


def decode_or_dead_letter(
    batch: Sequence[Message], serializer: JsonSerializer[E], producer: Producer,
    settings: Settings, stage: str,
) -> list[tuple[Message, E]]:
    """The batch's events that match the contract; the others go to the DLQ, flushed.

    Raises KafkaException when a dead letter is not delivered, so the batch is not committed.
    """
    good: list[tuple[Message, E]] = []
    dead = 0
    for msg in batch:
        try:
            good.append((msg, serializer.loads(msg.value())))
        except ContractError as exc:
            dead_letter(producer, settings, msg, str(exc), stage)
            dead += 1
    if dead and producer.flush(30) > 0:
        raise KafkaException(f"{stage}: dead-letter messages not delivered within 30 s")
    return good


POISON_ATTEMPTS = 3  # tries of a message on its own before it is dead-lettered
POISON_BACKOFF_S = 0.5  # times the attempt number: a passing fault gets a moment to pass

# Commit errors that mean "this member no longer owns these partitions", not a broken stage.
GROUP_MOVED_ON = frozenset({KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION,
                            KafkaError.REBALANCE_IN_PROGRESS})


@dataclass
class StageLoop:
    """One consumer-group member of a stage, running ``handle`` on each batch."""

    settings: Settings
    stage: str
    topics: list[str]
    group_id: str
    handle: BatchHandler
    batch_size: int = 8
    batch_deadline_s: float = 0.2
    stop: threading.Event = field(default_factory=threading.Event)
    consumer_overrides: dict[str, object] = field(default_factory=dict)
    consumers: Callable[..., Consumer] = make_consumer  # (settings, group_id, **overrides)
    # Dead-letters one message with the reason (None: an error of a batch stops the stage).
    poison: Callable[[Message, str], None] | None = None
    _last_lag: float = 0.0

    def run(self) -> None:
        consumer = self.consumers(self.settings, self.group_id, **self.consumer_overrides)
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("stage=%s group=%s topics=%s batch=%d deadline=%.3fs", self.stage,
                 self.group_id, self.topics, self.batch_size, self.batch_deadline_s)
        try:
            while not self.stop.is_set():
                self.step(consumer)
        finally:
            consumer.close()
            log.info("stage=%s stopped", self.stage)

    def step(self, consumer: Consumer) -> int:
        """Poll one batch, handle it, commit it. Returns the number of messages handled."""
        polled = consumer.consume(num_messages=self.batch_size, timeout=self.batch_deadline_s)
        batch = []
        for msg in polled:
            err = msg.error()
            if err is None:
                batch.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                metrics.CONSUMER_ERRORS.labels(self.stage, err.name()).inc()
                log.error("stage=%s consumer error: %s", self.stage, err)
        if batch:
            started = time.perf_counter()
            self._handle(batch)
            self._commit(consumer, batch)
            metrics.STAGE_LATENCY.labels(self.stage).observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.labels(self.stage).observe(len(batch))
            metrics.MESSAGES_PROCESSED.labels(self.stage).inc(len(batch))
        if time.monotonic() - self._last_lag > LAG_EVERY_S:
            self._record_lag(consumer)
        return len(batch)

    def _handle(self, batch: list[Message]) -> None:
        """Handle the batch; when it raises, each message again on its own, so that one
        message the stage cannot handle (a poison message) goes to the dead-letter topic
        with the reason, and the others, and the stage, go on."""
        try:
            self.handle(batch)
            return
        except (KafkaException, BufferError):
            raise  # Kafka itself failed, not a message: nothing to dead-letter; not committed
        except Exception:
            if self.poison is None:
                raise
            log.exception("stage=%s a batch of %d failed: handling its messages one by one",
                          self.stage, len(batch))
        for msg in batch:
            self._handle_alone(msg)

    def _handle_alone(self, msg: Message) -> None:
        assert self.poison is not None
        error = ""
        for attempt in range(1, POISON_ATTEMPTS + 1):
            try:
                self.handle([msg])
                return
            except (KafkaException, BufferError):
                raise  # as above: the batch stays uncommitted and is read again
            except Exception as exc:  # any error: dead-lettered below, never a crash-loop
                error = f"{type(exc).__name__}: {exc}"
                log.warning("stage=%s %s failed alone (attempt %d of %d): %s", self.stage,
                            where(msg), attempt, POISON_ATTEMPTS, error)
                if attempt < POISON_ATTEMPTS and not self.stop.wait(POISON_BACKOFF_S * attempt):
                    continue
                break
        log.error("stage=%s %s dead-lettered after %d attempts: %s", self.stage, where(msg),
                  POISON_ATTEMPTS, error)
        self.poison(msg, f"{self.stage} could not handle it: {error}"[:1000])

    def _commit(self, consumer: Consumer, batch: list[Message]) -> None:
        """Commit the batch; a group that moved on meanwhile is not fatal.

        When the member was away longer than the session timeout (a link cut for 10 s was
        enough), the group has rebalanced and the broker refuses its commit. The batch's
        results are out already; whoever holds the partitions now reads it again from the
        last commit, and results carry frame_id, so the repeat is harmless downstream.
        """
        try:
            consumer.commit(offsets=next_offsets(batch), asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.code() not in GROUP_MOVED_ON:
                raise
            metrics.CONSUMER_ERRORS.labels(self.stage, error.name()).inc()
            log.warning("stage=%s commit refused after a rebalance (%s): the batch of %d will "
                        "be read again by the partitions' new owner", self.stage, error.name(),
                        len(batch))

    def _record_lag(self, consumer: Consumer) -> None:
        # Cached watermarks only: they come with every fetch response. Asking the broker
        # (cached=False) costs about half a second a partition and stalled the loop for
        # seconds, which showed as a saw-tooth in end-to-end latency.
        self._last_lag = time.monotonic()
        for tp in consumer.position(consumer.assignment()):
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                metrics.CONSUMER_LAG.labels(self.stage, str(tp.partition)).set(high - tp.offset)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("stage=%s assigned %s", self.stage,
                 [f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("stage=%s revoked %s", self.stage,
                 [f"{p.topic}[{p.partition}]" for p in partitions])
