"""The audit sink: every decision and control event as one hash-chained, fsynced line.

The audit stage of vigil/core/flow.py, on ``decisions`` and ``control``. Each batch is
appended to the log (``sinks.audit_log``) and fsynced before the loop commits, then
checkpointed (the keyed checkpoint file beside the log and the AUDIT_CHECKPOINTS topic, see
``sinks.audit_anchor``). At start the log is checked against its checkpoints (a cut or
rewritten log is refused) and read back: the chain continues from its last line, and any
message already recorded (by topic, partition, offset) is skipped, so a replay after a crash
adds no line. Run one audit sink per log file (it owns the log); the auditor console adds its
``access`` lines to the same chain, and the sink's next checkpoint covers them.
"""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from schemas.serializers import ContractError, JsonSerializer
from sinks.audit_anchor import CheckpointWriter, open_anchored
from sinks.audit_keys import load_signing_key
from sinks.audit_log import AuditLog
from vigil.core import metrics
from vigil.core.flow import AUDIT_CHECKPOINTS, AUDIT_STAGE, CONTROL, DECISIONS
from vigil.core.flow_types import BatchHandler, Stage, StageIO
from vigil.core.settings import Settings
from vigil.core.stage_loop import where
from vigil.core.topics import create_topics

log = logging.getLogger(__name__)
STAGE = AUDIT_STAGE.name
MAX_RAW_BYTES = 64 * 1024  # an invalid message is kept in the log up to this size


def audit_log_path(settings: Settings) -> Path:
    """The configured audit log, else STATE_DIR/audit/audit.log."""
    return settings.sinks.audit_log or settings.deployment.state_dir / "audit" / "audit.log"


class AuditSink(BatchHandler):
    """Appends every event it reads to the audit log; see the module docstring."""

    def __init__(self, settings: Settings, io: StageIO | None = None,
                 path: Path | None = None, kafka_checkpoints: bool = True) -> None:
        """``kafka_checkpoints`` False keeps checkpoints in the file beside the log only (the
        in-memory harness: it has no broker to create the checkpoint topic on)."""
        self.settings = settings
        self.io = io or StageIO()
        self.stop = self.io.stop
        self.kafka_checkpoints = kafka_checkpoints
        self.serializers: dict[str, tuple[str, JsonSerializer[Any]]] = {
            DECISIONS.name(settings): ("decision", DECISIONS.serializer),
            CONTROL.name(settings): ("control", CONTROL.serializer),
        }
        self.path = path or audit_log_path(settings)
        self.log: AuditLog | None = None
        self.checkpoints: CheckpointWriter | None = None

    def open(self) -> None:
        """Check the log against its checkpoints and open (and lock) it."""
        producer = None
        if self.kafka_checkpoints:
            create_topics(self.settings, [AUDIT_CHECKPOINTS])
            producer = self.io.producer(
                self.settings,
                **{"client.id": f"{self.settings.deployment.namespace}-audit-checkpoints"},
            )
        self.log, self.checkpoints = open_anchored(
            self.settings, self.path, load_signing_key(self.settings, create=True), producer)

    def close(self) -> None:
        """Deliver the last checkpoint and close the log."""
        if self.checkpoints is not None:
            self.checkpoints.close()
        if self.log is not None:
            self.log.close()

    def handle(self, batch: list[Message]) -> None:
        """Append the batch's new events and fsync; the loop commits when this returns."""
        assert self.log is not None and self.checkpoints is not None, "open() opens the log"
        entries = []
        for msg in batch:
            if self.log.recorded(str(msg.topic()), int(msg.partition() or 0),
                                 int(msg.offset() or 0)):
                log.info("audit: already recorded %s, skipped", where(msg))
                metrics.FRAMES_DROPPED.labels(STAGE, "already_recorded").inc()
                continue
            entries.append(self.entry(msg))
        self.log.append(entries)
        self.checkpoints.record(self.log)
        for entry in entries:
            metrics.SINK_OUTPUTS.labels(STAGE, entry["type"]).inc()

    def entry(self, msg: Message) -> dict[str, Any]:
        """The fields of one line (the log adds seq, prev and hash)."""
        kind, serializer = self.serializers[str(msg.topic())]
        return audit_entry(msg, kind, serializer)


def audit_entry(msg: Message, kind: str, serializer: JsonSerializer[Any]) -> dict[str, Any]:
    """The fields of the line recording one message of kind ``decision`` or ``control``."""
    value = msg.value()
    try:
        event: dict[str, Any] = serializer.loads(value).model_dump(mode="json")
    except ContractError as exc:
        log.warning("audit: invalid %s at %s: %s", kind, where(msg), exc)
        kind = "invalid"
        raw = (value or b"")[:MAX_RAW_BYTES]
        event = {"error": str(exc), "value_b64": base64.b64encode(raw).decode(),
                 "value_bytes": len(value or b"")}
    ts_type, ts = msg.timestamp()
    key = msg.key()
    return {
        "type": kind,
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "key": key.decode(errors="replace") if key is not None else None,
        "kafka_timestamp": ts if ts_type else None,
        "recorded_at": int(time.time() * 1000),
        "event": event,
    }


def build(_entry: Stage, settings: Settings, io: StageIO) -> AuditSink:
    """The flow table's builder."""
    return AuditSink(settings, io)
