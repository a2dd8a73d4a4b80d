"""Checkpoints that anchor the audit log where the log file alone cannot rewrite them.

The hash chain (``sinks.audit_log``) shows an edit, insertion or removal inside the log, but a
log cut at its end is still a valid chain, and so is a chain recomputed after an edit: its
hashes are not keyed. So after every batch the audit sink records a checkpoint, the log's
line count, last line hash and a sequence number (``AuditCheckpoint``), signed with the audit
sink's own Ed25519 key (sinks/audit_keys.py; verifiers hold only the public key):

- in the checkpoint file beside the log (``audit.log.checkpoint``, replaced atomically), and
- on the Kafka topic AUDIT_CHECKPOINTS (vigil/core/flow.py: one partition, compacted, so the
  latest checkpoint of each log stays; segments older than the audit retention go), keyed by
  the log's id (its first line's hash).

Whoever holds the log file, or the data key, cannot make a checkpoint its cut or rewritten log
matches. An old checkpoint put back (the file, or its record produced again) is older than one
already seen: the whole topic is read and the highest sequence of the log counts. `vigil
audit verify` checks the log against both and names the last good checkpoint; the sink checks
the same before it continues a log, and refuses one that no longer reaches its checkpoint.
Lines written after the last checkpoint (a crash between the two writes) are not covered: at
most one batch; the audit group's committed offsets cover them (sinks/audit_offsets.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.events import AuditCheckpoint, now_ms
from schemas.serializers import ContractError
from sinks.audit_keys import signature_ok
from sinks.audit_log import AuditError, AuditLog, canonical
from sinks.audit_offsets import CommitsUnavailable, cut_below_commits
from sinks.files import write_atomic
from vigil.core import metrics
from vigil.core.flow import AUDIT_CHECKPOINTS, AUDIT_STAGE
from vigil.core.kafka import make_consumer, watermarks
from vigil.core.settings import Settings
from vigil.core.topic_window import TopicWindowError, read_window

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 10.0
_ABSENT = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
           KafkaError._UNKNOWN_TOPIC)


class CheckpointUnavailable(AuditError):
    """Kafka did not answer, so its checkpoints could not be read."""


def checkpoint_file(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".checkpoint")


def _signed_bytes(checkpoint_fields: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in checkpoint_fields.items() if k != "signature"})


def sign(signer: Ed25519PrivateKey, log_id: str, sequence: int, lines: int,
         last_hash: str) -> AuditCheckpoint:
    """Checkpoint ``sequence`` of a log that holds ``lines`` lines, the last hashing to
    last_hash."""
    fields = {"schema_version": 1, "log_id": log_id, "sequence": sequence, "lines": lines,
              "last_hash": last_hash, "at": now_ms()}
    signature = signer.sign(_signed_bytes(fields))
    return AuditCheckpoint.model_validate(
        {**fields, "signature": base64.b64encode(signature).decode()})


def signed_ok(key: Ed25519PublicKey, checkpoint: AuditCheckpoint) -> bool:
    return signature_ok(key, base64.b64decode(checkpoint.signature),
                        _signed_bytes(checkpoint.model_dump(mode="json")))


@dataclass(frozen=True)
class Anchor:
    """A checkpoint whose signature is good, and where it was read."""

    checkpoint: AuditCheckpoint
    source: str

    def describe(self) -> str:
        cp = self.checkpoint
        at = dt.datetime.fromtimestamp(cp.at / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"line {cp.lines} (checkpoint {cp.sequence}, hash {cp.last_hash[:16]}, {at}) "
                f"from {self.source}")


def _trusted(key: Ed25519PublicKey, data: bytes | None, source: str) -> Anchor:
    try:
        checkpoint = AUDIT_CHECKPOINTS.serializer.loads(data)
    except ContractError as exc:
        raise AuditError(f"the checkpoint from {source} is unreadable: {exc} (a checkpoint "
                         "of before signed checkpoints: run `vigil audit reanchor` once)"
                         ) from None
    if not signed_ok(key, checkpoint):
        raise AuditError(f"the checkpoint from {source} has no valid signature: it was "
                         "altered, or not made by this deployment's audit sink")
    return Anchor(checkpoint, source)


def file_anchor(key: Ed25519PublicKey, log_path: Path) -> Anchor | None:
    """The checkpoint file's checkpoint, None when there is no file."""
    path = checkpoint_file(log_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read the checkpoint file {path}: {exc.strerror}") from None
    return _trusted(key, data, f"file {path}")


def kafka_anchor(settings: Settings, key: Ed25519PublicKey,
                 timeout_s: float = KAFKA_TIMEOUT_S) -> tuple[Anchor | None, list[str]]:
    """The freshest checkpoint on the topic (the highest sequence of the log its newest record
    names), and problems: a newest record older than one before it was put back, or one that
    does not verify. (None, []) when the topic is absent or empty."""
    topic = AUDIT_CHECKPOINTS.name(settings)
    consumer = make_consumer(settings, f"{settings.deployment.namespace}-audit-anchor",
                             **{"auto.offset.reset": "error", "enable.auto.offset.store": False})
    try:
        try:
            low, high = watermarks(consumer, TopicPartition(topic, 0), timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() in _ABSENT:
                return None, []
            raise CheckpointUnavailable(f"Kafka at {settings.kafka.bootstrap} did not answer "
                                        f"for {topic}: {exc.args[0].str()}") from None
        if high <= low:
            return None, []
    finally:
        consumer.close()
    try:  # the whole partition: an old checkpoint put back is told by the newer ones
        records = [(int(m.offset() or 0), m.value())
                   for m in read_window(settings, topic, stall_s=timeout_s)]
    except TopicWindowError as exc:
        raise CheckpointUnavailable(str(exc)) from None
    return freshest(key, records, topic)


def freshest(key: Ed25519PublicKey, records: list[tuple[int, bytes | None]],
             topic: str) -> tuple[Anchor | None, list[str]]:
    """See :func:`kafka_anchor`; ``records`` are (offset, value) in offset order. A record
    that does not verify is a problem when no good checkpoint follows it (a forgery, or the
    state of the topic now); one followed by good checkpoints is history (an earlier signing
    key, before a restore on a new machine, say)."""
    anchors: list[tuple[int, Anchor]] = []
    invalid: list[tuple[int, str]] = []
    for offset, value in records:
        try:
            anchors.append((offset, _trusted(key, value, f"kafka {topic}@{offset}")))
        except AuditError as exc:
            invalid.append((offset, str(exc)))
    last_good = anchors[-1][0] if anchors else -1
    problems = [why for offset, why in invalid if offset > last_good]
    if not anchors:
        return None, problems
    newest = anchors[-1][1]
    of_log = [a for _o, a in anchors if a.checkpoint.log_id == newest.checkpoint.log_id]
    best = max(of_log, key=lambda a: a.checkpoint.sequence)
    if best.checkpoint.sequence > newest.checkpoint.sequence:
        problems.append(f"the newest checkpoint on {topic} ({newest.describe()}) is older than "
                        f"one before it ({best.describe()}): an old checkpoint was put back")
    return best, problems


def falls_short(anchor: Anchor, first_hash: str | None, lines: int,
                hashes: dict[int, str]) -> str | None:
    """Why a log (its line 1 hash, line count, hashes by line) does not reach the anchor."""
    cp, source = anchor.checkpoint, anchor.source
    if lines < cp.lines:
        return (f"the log has {lines} lines, the checkpoint from {source} says {cp.lines}: "
                "lines were cut from the end")
    if first_hash != cp.log_id:
        return (f"line 1 is not the line the checkpoint from {source} was made for: the log "
                "was replaced or rewritten from its start")
    if hashes.get(cp.lines) != cp.last_hash:
        return (f"line {cp.lines} differs from the checkpoint from {source}: the log was "
                "rewritten")
    return None


def open_anchored(settings: Settings, path: Path, signer: Ed25519PrivateKey,
                  producer: Producer | None) -> tuple[AuditLog, CheckpointWriter]:
    """Open the log for writing after checking it still reaches its checkpoints.

    With a producer, the Kafka checkpoints are checked too (and later ones are produced).
    Raises AuditError, naming the checkpoint, when the log was cut or rewritten, or when an
    old checkpoint was put back.
    """
    key = signer.public_key()
    found = [file_anchor(key, path)]
    if producer is not None:
        kafka, problems = kafka_anchor(settings, key)
        if problems:
            raise AuditError(f"refusing to continue the audit log {path}: "
                             + "; ".join(problems))
        found.append(kafka)
    anchors = [anchor for anchor in found if anchor is not None]
    audit_log = AuditLog(path, keep={a.checkpoint.lines for a in anchors})
    for anchor in anchors:
        problem = falls_short(anchor, audit_log.first_hash, audit_log.lines, audit_log.hashes)
        if problem is not None:
            audit_log.close()
            raise AuditError(f"refusing to continue the audit log {path}: {problem}; run "
                             "`vigil audit verify`")
    if producer is not None:
        _refuse_below_commits(settings, path, audit_log)
    sequence = max((a.checkpoint.sequence for a in anchors), default=0)
    return audit_log, CheckpointWriter(settings, path, signer, producer, sequence)


def _refuse_below_commits(settings: Settings, path: Path, audit_log: AuditLog) -> None:
    try:
        problem = cut_below_commits(settings, audit_log)
    except CommitsUnavailable as exc:  # the consumer loop will wait for Kafka anyway
        log.warning("audit log %s not checked against the committed offsets: %s", path, exc)
        return
    if problem is not None:
        audit_log.close()
        raise AuditError(f"refusing to continue the audit log {path}: {problem}; run "
                         "`vigil audit verify`")


class CheckpointWriter:
    """Records a checkpoint after each append: the file at once, Kafka asynchronously."""

    def __init__(self, settings: Settings, log_path: Path, signer: Ed25519PrivateKey,
                 producer: Producer | None, sequence: int = 0) -> None:
        self.file = checkpoint_file(log_path)
        self.topic = AUDIT_CHECKPOINTS.name(settings)
        self.signer = signer
        self.producer = producer
        self.sequence = sequence  # the last checkpoint's number; the next is one more
        self.lines = 0

    def record(self, audit_log: AuditLog) -> AuditCheckpoint | None:
        """Checkpoint the log when it grew since the last checkpoint."""
        if audit_log.lines == self.lines or audit_log.first_hash is None:
            return None
        self.sequence += 1
        checkpoint = sign(self.signer, audit_log.first_hash, self.sequence, audit_log.lines,
                          audit_log.last_hash)
        value = AUDIT_CHECKPOINTS.serializer.dumps(checkpoint)
        write_atomic(self.file, value + b"\n")
        if self.producer is not None:
            self.producer.produce(self.topic, key=checkpoint.log_id, value=value,
                                  on_delivery=self._delivered)
            self.producer.poll(0)
        self.lines = audit_log.lines
        return checkpoint

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            metrics.SINK_OUTPUTS.labels(AUDIT_STAGE.name, "checkpoint").inc()
        else:  # the file still holds it, and the next batch produces a newer one
            log.error("audit checkpoint not stored topic=%s error=%s", self.topic, err.str())

    def close(self) -> bool:
        """Deliver what is queued for Kafka; False when some did not reach it in 10 s."""
        if self.producer is not None and self.producer.flush(10) > 0:
            log.error("audit checkpoints not delivered to %s within 10 s", self.topic)
            return False
        return True
