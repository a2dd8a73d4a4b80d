"""Checkpoints that anchor the audit log where the log file alone cannot rewrite them.

The hash chain (``sinks.audit_log``) shows an edit, insertion or removal inside the log, but a
log cut at its end is still a valid chain, and so is a chain recomputed after an edit: its
hashes are not keyed. So after every batch the audit sink records a checkpoint, the log's
line count and last line hash (``AuditCheckpoint``), with an HMAC-SHA256 under a key derived
from the deployment's data key (``control.users.crypto.derive_key``):

- in the checkpoint file beside the log (``audit.log.checkpoint``, replaced atomically), and
- on the Kafka topic AUDIT_CHECKPOINTS (vigil/core/flow.py: one partition, compacted, so the
  latest checkpoint of each log stays; segments older than the audit retention go), keyed by
  the log's id (its first line's hash).

Whoever holds only the log file cannot make a checkpoint its cut or rewritten log matches.
`vigil audit verify` checks the log against both and names the last good checkpoint; the
sink checks the same before it continues a log, and refuses one that no longer reaches its
checkpoint. Lines written after the last checkpoint (a crash between the two writes) are not
covered: at most one batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from control.users.crypto import derive_key, load_key
from schemas.events import AuditCheckpoint, now_ms
from schemas.serializers import ContractError
from sinks.audit_log import AuditError, AuditLog, canonical
from sinks.files import write_atomic
from vigil.core import metrics
from vigil.core.flow import AUDIT_CHECKPOINTS, AUDIT_STAGE
from vigil.core.kafka import make_consumer, read_one, watermarks
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

MAC_PURPOSE = "vigil/audit-checkpoint/v1"
KAFKA_TIMEOUT_S = 10.0
_ABSENT = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
           KafkaError._UNKNOWN_TOPIC)


class CheckpointUnavailable(AuditError):
    """Kafka did not answer, so its checkpoints could not be read."""


def checkpoint_file(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".checkpoint")


def mac_key(settings: Settings, create: bool = False) -> bytes:
    """The checkpoints' MAC key, derived from the data key (never the data key itself)."""
    return derive_key(load_key(settings, create=create), MAC_PURPOSE)


def _mac(key: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(key, canonical(fields), hashlib.sha256).hexdigest()


def sign(key: bytes, log_id: str, lines: int, last_hash: str) -> AuditCheckpoint:
    """A checkpoint of a log that holds ``lines`` lines, the last one hashing to last_hash."""
    fields = {"schema_version": 1, "log_id": log_id, "lines": lines, "last_hash": last_hash,
              "at": now_ms()}
    return AuditCheckpoint.model_validate({**fields, "mac": _mac(key, fields)})


def mac_ok(key: bytes, checkpoint: AuditCheckpoint) -> bool:
    fields = checkpoint.model_dump(mode="json", exclude={"mac"})
    return hmac.compare_digest(_mac(key, fields), checkpoint.mac)


@dataclass(frozen=True)
class Anchor:
    """A checkpoint whose MAC is good, and where it was read."""

    checkpoint: AuditCheckpoint
    source: str

    def describe(self) -> str:
        cp = self.checkpoint
        at = dt.datetime.fromtimestamp(cp.at / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"line {cp.lines} (hash {cp.last_hash[:16]}, {at}) from {self.source}"


def _trusted(key: bytes, data: bytes | None, source: str) -> Anchor:
    try:
        checkpoint = AUDIT_CHECKPOINTS.serializer.loads(data)
    except ContractError as exc:
        raise AuditError(f"the checkpoint from {source} is unreadable: {exc}") from None
    if not mac_ok(key, checkpoint):
        raise AuditError(f"the checkpoint from {source} has no valid MAC: it was altered, or "
                         "made without this deployment's key")
    return Anchor(checkpoint, source)


def file_anchor(key: bytes, log_path: Path) -> Anchor | None:
    """The checkpoint file's checkpoint, None when there is no file."""
    path = checkpoint_file(log_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read the checkpoint file {path}: {exc.strerror}") from None
    return _trusted(key, data, f"file {path}")


def kafka_anchor(settings: Settings, key: bytes,
                 timeout_s: float = KAFKA_TIMEOUT_S) -> Anchor | None:
    """The latest checkpoint on the topic, None when the topic is absent or empty."""
    topic = AUDIT_CHECKPOINTS.name(settings)
    consumer = make_consumer(settings, f"{settings.namespace}-audit-anchor",
                             **{"auto.offset.reset": "error", "enable.auto.offset.store": False})
    try:
        try:
            low, high = watermarks(consumer, TopicPartition(topic, 0), timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() in _ABSENT:
                return None
            raise CheckpointUnavailable(f"Kafka at {settings.kafka_bootstrap} did not answer "
                                        f"for {topic}: {exc.args[0].str()}") from None
        if high <= low:
            return None
        try:
            msg: Message = read_one(consumer, topic, 0, high - 1, timeout_s)
        except (KafkaException, TimeoutError) as exc:
            raise CheckpointUnavailable(f"reading {topic}@{high - 1}: {exc}") from None
        return _trusted(key, msg.value(), f"kafka {topic}@{high - 1}")
    finally:
        consumer.close()


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


def open_anchored(settings: Settings, path: Path, key: bytes,
                  producer: Producer | None) -> tuple[AuditLog, CheckpointWriter]:
    """Open the log for writing after checking it still reaches its checkpoints.

    With a producer, the Kafka checkpoint is checked too (and later ones are produced).
    Raises AuditError, naming the checkpoint, when the log was cut or rewritten.
    """
    found = [file_anchor(key, path)]
    if producer is not None:
        found.append(kafka_anchor(settings, key))
    anchors = [anchor for anchor in found if anchor is not None]
    audit_log = AuditLog(path, keep={a.checkpoint.lines for a in anchors})
    for anchor in anchors:
        problem = falls_short(anchor, audit_log.first_hash, audit_log.lines, audit_log.hashes)
        if problem is not None:
            audit_log.close()
            raise AuditError(f"refusing to continue the audit log {path}: {problem}; run "
                             "`vigil audit verify`")
    return audit_log, CheckpointWriter(settings, path, key, producer)


class CheckpointWriter:
    """Records a checkpoint after each append: the file at once, Kafka asynchronously."""

    def __init__(self, settings: Settings, log_path: Path, key: bytes,
                 producer: Producer | None) -> None:
        self.file = checkpoint_file(log_path)
        self.topic = AUDIT_CHECKPOINTS.name(settings)
        self.key = key
        self.producer = producer
        self.lines = 0

    def record(self, audit_log: AuditLog) -> AuditCheckpoint | None:
        """Checkpoint the log when it grew since the last checkpoint."""
        if audit_log.lines == self.lines or audit_log.first_hash is None:
            return None
        checkpoint = sign(self.key, audit_log.first_hash, audit_log.lines, audit_log.last_hash)
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
