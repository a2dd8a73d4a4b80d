"""The flow table: every topic and every stage of Vigil, declared once. Read top to bottom:

    clients -> gateway -> frames -> face, phone -> face-results, phone-results -> decide
            -> decisions -> evidence, audit, replies (-> the gateway holding the socket)

Everything else reads this module: ``create_topics`` (vigil/core/topics.py) makes every topic
below; the runner (vigil/apps/run_stage.py) runs any stage from its entry (consumer group,
inputs, batch size, heartbeat, profiling); `vigil up` starts one process per stage (more for
a stage that scales); heartbeats, admission and the autoscaler find the capacity stage here;
the decide app takes its app id and internal topics from here. No topic or stage name is
written anywhere else. Adding a stage is one entry below plus its builder (docs/flow.md).
"""

from __future__ import annotations

from typing import Any

from schemas.events import AuditCheckpoint, ControlEvent, Decision, FaceResult, PhoneResult
from schemas.serializers import FrameSerializer, JsonSerializer
from vigil.core.errors import VigilError
from vigil.core.flow_types import (
    Cleanup,
    Retention,
    Stage,
    StageKind,
    Topic,
    numbered,
)
from vigil.core.settings import Settings

GATEWAY = "gateway"  # the gateway's name: also the role its own heartbeat reports
DECIDE = "decide"  # the decide stage's name: its Faust app id and internal topics' owner

# --- topics of the flow: keyed by client_id, the flow's partition count --------------------
FRAMES = Topic("frames", FrameSerializer(), Retention.FRAMES)  # JPEG; metadata in headers
FACE_RESULTS = Topic("face-results", JsonSerializer(FaceResult), Retention.RESULTS)
PHONE_RESULTS = Topic("phone-results", JsonSerializer(PhoneResult), Retention.RESULTS)
DECISIONS = Topic("decisions", JsonSerializer(Decision), Retention.AUDIT)
CONTROL = Topic("control", JsonSerializer(ControlEvent), Retention.AUDIT)
# Messages as received (frames, mostly: raw faces, so frames' retention); the error is in a
# header (vigil.core.dead_letter). Any stage writes to it.
FRAMES_DLQ = Topic("frames.dlq", None, Retention.FRAMES)

# --- the audit sink's checkpoints: keyed by the log's id; the latest of each log stays -----
AUDIT_CHECKPOINTS = Topic("audit-checkpoints", JsonSerializer(AuditCheckpoint), Retention.AUDIT,
                          Cleanup.COMPACT_DELETE, partitions=1)

# --- the decide app's own topics (Faust names them {ns}-decide-...; Faust serializes) -------
# Ticks: the deadline and sweep timers' messages into the partition holding overdue frames.
DECIDE_TICKS = Topic("ticks", None, Retention.HOUR, owner=DECIDE)
DECIDE_ASSIGNOR = Topic("__assignor-__leader", None, Retention.UNSET, partitions=1,
                        owner=DECIDE)
# A worker recovers its tables from their changelogs, and Kafka compacts only closed segments
# (7 days by default): left alone, every frame's pending and decided entries (and their
# deletions) stay to be read at each start; 18,459 of them took 15 s. Segments roll every
# 10 minutes here, and deletions are kept 10 minutes (no standby replica reads them).
CHANGELOG_COMPACTION = (("segment.ms", "600000"), ("min.cleanable.dirty.ratio", "0.1"),
                        ("delete.retention.ms", "600000"))
DECIDE_TABLES = ("pending", "decided", "clients")
DECIDE_CHANGELOGS = tuple(
    Topic(f"{table}-changelog", None, Retention.UNSET, Cleanup.COMPACT,
          config=CHANGELOG_COMPACTION, owner=DECIDE)
    for table in DECIDE_TABLES)
DECIDE_INTERNAL: tuple[Topic[Any], ...] = (DECIDE_TICKS, DECIDE_ASSIGNOR, *DECIDE_CHANGELOGS)

FLOW_TOPICS: tuple[Topic[Any], ...] = (FRAMES, FACE_RESULTS, PHONE_RESULTS, DECISIONS, CONTROL,
                                       FRAMES_DLQ)
TOPICS: tuple[Topic[Any], ...] = (*FLOW_TOPICS, AUDIT_CHECKPOINTS, *DECIDE_INTERNAL)


def _model_deadline(settings: Settings) -> float:
    return settings.processors.batch_deadline_ms / 1000


# --- stages, in the order `vigil up` starts them (their slot gives their metrics port) -----
STAGES: tuple[Stage, ...] = numbered(
    # The gateway beats by itself (its process id is its reply channel), not by the runner.
    Stage(GATEWAY, StageKind.GATEWAY, "ingest.run:build", output=FRAMES,
          description="WebSocket gateway: admission, auth, frames to Kafka, replies back"),
    Stage("face", StageKind.PROCESSOR, "processors.face:build", inputs=(FRAMES,),
          output=FACE_RESULTS, scales=True, beats=True, capacity=True,
          batch_size=lambda s: s.processors.face_batch_size, batch_deadline_s=_model_deadline,
          description="face chain: detect, embed, liveness; FaceResult per frame"),
    Stage("phone", StageKind.PROCESSOR, "processors.phone:build", inputs=(FRAMES,),
          output=PHONE_RESULTS, scales=True, beats=True,
          batch_size=lambda s: s.processors.phone_batch_size, batch_deadline_s=_model_deadline,
          description="phone detector; PhoneResult per frame"),
    Stage(DECIDE, StageKind.PROCESSOR, "processors.decide.worker:build",
          inputs=(FACE_RESULTS, PHONE_RESULTS, CONTROL), output=DECISIONS,
          description="Faust app joining face and phone results into decisions"),
    Stage("evidence", StageKind.SINK, "sinks.evidence:build", inputs=(DECISIONS,),
          batch_size=lambda s: s.sinks.batch_size,
          description="encrypted evidence for every non-allow decision"),
    Stage("audit", StageKind.SINK, "sinks.audit:build", inputs=(DECISIONS, CONTROL),
          output=AUDIT_CHECKPOINTS, batch_size=lambda s: s.sinks.batch_size,
          description="hash-chained audit log of decisions and control events"),
    Stage("replies", StageKind.SINK, "sinks.replies:build", inputs=(DECISIONS,),
          batch_size=lambda s: s.sinks.batch_size,
          description="decisions back to the gateway holding the client's socket"),
)


class UnknownStageError(VigilError):
    """A stage name that is not in the table."""


def stage(name: str) -> Stage:
    """The table entry called ``name``."""
    for entry in STAGES:
        if entry.name == name:
            return entry
    raise UnknownStageError(f"no stage called {name!r}; the stages are "
                            f"{', '.join(s.name for s in STAGES)}")


def names(kind: StageKind) -> list[str]:
    """The names of the stages of one kind, in table order."""
    return [s.name for s in STAGES if s.kind is kind]


def scaled_stages() -> list[Stage]:
    """The stages `vigil up` runs min..max processes of."""
    return [s for s in STAGES if s.scales]


(GATEWAY_STAGE, FACE_STAGE, PHONE_STAGE, DECIDE_STAGE, EVIDENCE_STAGE, AUDIT_STAGE,
 REPLIES_STAGE) = STAGES
CAPACITY_STAGE = next(s for s in STAGES if s.capacity)  # its live processes are the capacity
