"""The typed events of Vigil: the one source of truth for every topic's contract.

Timestamps are UTC epoch milliseconds. Every event carries ``schema_version``. Ids are
restricted to a safe alphabet, since the evidence sink builds file paths from them.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1

# Ids end up in Kafka keys, Redis keys and file paths: letters, digits, '.', '_', '-' only,
# never starting with a dot.
SAFE_ID_PATTERN = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"  # matched whole (re.fullmatch)
SafeId = Annotated[str, Field(pattern=f"^{SAFE_ID_PATTERN}$")]
# Timestamps past 2100 are refused at the contract: a poison `decided_at` of year 10000 once
# made the evidence sink crash-loop (datetime cannot hold it). Every other int is 64-bit.
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
MAX_INT64 = 2**63 - 1
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS, description="UTC epoch milliseconds")]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


def now_ms() -> int:
    """Now, as every event's timestamps are: UTC epoch milliseconds."""
    return int(time.time() * 1000)


class Event(BaseModel):
    """Base of every JSON event: frozen, unknown fields rejected."""

    # NaN and infinities are not numbers any consumer can compare or store.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Action(StrEnum):
    ALLOW = "allow"
    LOCK_SCREEN = "lock_screen"
    SIGN_OUT = "sign_out"
    BLOCK = "block"


class Reason(StrEnum):
    OK = "ok"
    NO_FACE = "no_face"
    SPOOF = "spoof"
    WRONG_USER = "wrong_user"
    PHONE = "phone"
    MULTIPLE_FACES = "multiple_faces"
    INCOMPLETE = "incomplete"
    BAD_FRAME = "bad_frame"
    STALE = "stale"
    POOR_QUALITY = "poor_quality"  # too dark, blurred, over-exposed or small to judge
    VERIFYING = "verifying"  # liveness doubtful: held while more frames are judged
    CHALLENGE_TIMEOUT = "challenge_timeout"  # a step-up challenge was not answered in time


class QualityIssue(StrEnum):
    """What makes a face too poor to judge; each has a remedy the clients name."""

    DARK = "dark"  # remedy: more light
    BRIGHT = "bright"  # over-exposed; remedy: less light on the face or behind it
    BLURRED = "blurred"  # remedy: hold still, clean the lens
    SMALL = "small"  # remedy: come closer
    LARGE = "large"  # the face fills the picture: no context for liveness; remedy: move back


class Unprocessed(StrEnum):
    """Why a processor did not run its models on a frame (its result says so instead)."""

    BAD_FRAME = "bad_frame"  # the JPEG could not be decoded; ``error`` says why
    STALE = "stale"  # older than frame_max_age_ms when the processor reached it
    SESSION_ENDED = "session_ended"  # its session had ended: nobody is waiting for it


# Role -> "name@digest" of the plug-in that produced a result (registry role names;
# processors/vision/registry.py). The digest is the first 8 hex digits of the weights file's
# sha256 (several files: of their sorted sha256s), or the bundling package's version.
ModelVersions = Annotated[dict[str, str], Field(
    description="Model versions that produced this: role -> "
    "'plug-in@digest'; empty when no model ran (unprocessed) or before versions were recorded")]

UnprocessedField = Annotated[Unprocessed | None, Field(
    description="Why the models did not run on this frame (bad_frame, stale, session_ended); "
    "None when they did")]


class FrameHeaders(Event):
    """Metadata of one frame on the ``frames`` topic, carried in Kafka headers.

    The message value is the JPEG itself.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    frame_id: SafeId
    client_id: SafeId
    session_id: SafeId
    seq: int = Field(ge=0, le=MAX_INT64,
                     description="Client's frame number (server numbers from 1 if absent)")
    captured_at: EpochMs = Field(description="When the client captured the frame")
    received_at: EpochMs = Field(description="When the gateway received the frame")
    content_type: Literal["image/jpeg"] = "image/jpeg"


class FrameRef(Event):
    """Where a frame lives in Kafka, so a sink or an auditor can fetch that exact frame."""

    topic: str = Field(min_length=1)
    partition: int = Field(ge=0, le=MAX_INT64)
    offset: int = Field(ge=0, le=MAX_INT64)


class Box(Event):
    """An axis-aligned box in frame pixels."""

    x1: float
    y1: float
    x2: float
    y2: float


class FrameEvent(Event):
    """Fields shared by every per-frame result."""

    schema_version: Literal[1] = SCHEMA_VERSION
    frame_id: SafeId
    client_id: SafeId
    session_id: SafeId
    seq: int = Field(ge=0, le=MAX_INT64)
    frame: FrameRef
    captured_at: EpochMs
    received_at: EpochMs


class FaceQuality(Event):
    """How usable the face's pixels are, measured before liveness (processors/vision/quality.py)."""

    brightness: float = Field(ge=0.0, le=255.0, description="Mean grey level of the face box")
    sharpness: float = Field(ge=0.0, description="Variance of the Laplacian of the face, grey, "
                             "at 160x160 (higher is sharper)")
    overexposed: Score = Field(description="Share of the face box's pixels at 250 or more")
    side: float = Field(ge=0.0, description="Shorter side of the face box, in frame pixels")
    fill: float = Field(0.0, ge=0.0, description="Share of the picture's width or height (inside "
                        "letterbox bars) the face box spans, the larger of the two; 1: edge to "
                        "edge. 0 when not measured")


class Face(Event):
    """One detected face with what the face chain found about it."""

    box: Box
    score: Score = Field(description="Detector probability")
    landmarks: list[tuple[float, float]] = Field(
        default_factory=list, max_length=5, description="Eyes, nose, mouth corners"
    )
    liveness: Score | None = Field(None, description="Real-face score; None if not computed")
    distance: float | None = Field(
        None, ge=0.0, description="L2 distance to the nearest enrolled embedding"
    )
    quality: FaceQuality | None = Field(
        default=None, description="Pixel quality; None if not measured")


class SceneMovement(Event):
    """How the main face moved since the client's last frame, against the scene around it
    (processors/scene_motion.py): a flat picture's face moves with its surroundings."""

    motion: float = Field(ge=0.0, description="Mean landmark movement, in face sizes")
    residual: float = Field(ge=0.0, description="Mean distance of the landmarks from where the "
                            "surrounding scene's motion carries them, in face sizes")


class FaceResult(FrameEvent):
    """Output of the face processor for one frame."""

    processed_at: EpochMs
    faces: list[Face] = Field(default_factory=list)
    live: bool = Field(description="The main face passed the liveness threshold")
    match: bool = Field(description="The main face is the enrolled user")
    enrolled: bool = Field(description="The client had enrolled embeddings to compare with")
    verify_threshold: float | None = Field(
        default=None, gt=0.0, description="The enrolled client's own distance threshold (set at "
        "enrollment for a target FMR); None: the policy's")
    error: str | None = Field(None, description="Why the frame could not be processed")
    device: str = Field(description="cpu or cuda")
    unprocessed: UnprocessedField = None
    models: ModelVersions = {}
    scene: SceneMovement | None = Field(
        default=None, description="The main face's movement against its surroundings since the "
        "client's last frame; None when not measured (first frame, a gap, a bare wall)")


class PhoneDetection(Event):
    """A COCO box the phone detector reported: a phone, or a screen a face may be shown on."""

    box: Box
    confidence: Score
    label: Literal["cell phone", "tv", "laptop"] = Field(
        "cell phone", description="COCO class: a phone counts as a phone in use and as a "
        "replay device; tv and laptop count only as replay devices (a face inside the box)")

    @property
    def is_phone(self) -> bool:
        """A phone (not a screen): the box counts for the ``phone`` reason."""
        return self.label == "cell phone"


class PhoneResult(FrameEvent):
    """Output of the phone processor for one frame."""

    processed_at: EpochMs
    phones: list[PhoneDetection] = Field(default_factory=list)
    phone: bool = Field(description="A phone above the threshold was seen")
    error: str | None = None
    device: str
    reused_from: str | None = Field(
        default=None, description="The frame_id of this client's earlier frame whose "
        "detections this result repeats: the scene had not changed, so the detector did not "
        "run on this frame (phone_reuse_max_gap_ms); None when it ran")
    unprocessed: UnprocessedField = None
    models: ModelVersions = {}


class ChallengeKind(StrEnum):
    """What a step-up challenge asks; left and right are the person's own."""

    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


class ChallengeState(StrEnum):
    PENDING = "pending"  # asked, not answered yet
    PASSED = "passed"  # a 3D head turn in the asked direction and back, by the same person
    FAILED = "failed"  # the face moved as a flat picture does, or another person answered
    EXPIRED = "expired"  # no answer by the deadline


class ChallengeProgress(Event):
    """A step-up challenge as one decision sees it (processors/decide/challenge.py).

    The decision that asks it has ``issued`` true: the gateway then sends the client the
    ``challenge`` message of protocol v1 (docs/protocol.md) before that decision."""

    id: SafeId
    action: ChallengeKind
    state: ChallengeState
    issued: bool = Field(False, description="This decision asks the challenge")
    trigger: Literal["doubt", "session_start", "random", "after_failure", "flat_scene"] = Field(
        description="Why it was asked: doubtful liveness, the session's start, a random "
        "check, the client's last challenge ended in spoof, or the face moved with the scene "
        "around it (a picture held to the camera)")
    deadline_at: EpochMs = Field(description="When an unanswered challenge expires")
    deadline_ms: int = Field(ge=0, description="Time the client was given to answer")
    progress: float = Field(0.0, ge=0.0, le=1.0, description="Share of the turn done so far: "
                            "0.5 at the asked turn, 1 when back and passed")
    detail: str = Field("", max_length=100, description="Why it failed or what it waits for")


class Decision(FrameEvent):
    """The action for one frame, sent to the client and kept for auditors."""

    decided_at: EpochMs
    action: Action
    reason: Reason
    scores: dict[str, float] = Field(default_factory=dict)
    missing: list[Literal["face", "phone"]] = Field(
        default_factory=list, description="Halves absent when the deadline passed"
    )
    policy_version: str = Field(min_length=1)
    issues: list[QualityIssue] = Field(
        default_factory=list, description="What is wrong with the face, for poor_quality")
    gateway_id: SafeId | None = Field(None, description="Gateway holding the client's socket")
    models: ModelVersions = {}  # the union of the face and phone results' models
    challenge: Annotated[ChallengeProgress | None, Field(
        description="The client's step-up challenge, while one runs and on the decision that "
        "ends it; None otherwise")] = None


class ControlKind(StrEnum):
    ENROLLED = "enrolled"
    BLOCKED = "blocked"
    PAUSED = "paused"
    RESUMED = "resumed"
    POLICY_CHANGED = "policy-changed"
    TOKEN_ISSUED = "token-issued"
    TOKEN_REVOKED = "token-revoked"
    FORGOTTEN = "forgotten"  # biometric data erased: the client's key destroyed
    MODEL_ACTIVATED = "model-activated"  # `vigil weights activate`: ``activation`` says which


# The key (and client_id) of control events about the deployment, not a client.
DEPLOYMENT_KEY = "_deployment"


class ModelActivation(Event):
    """Which plug-in now serves a role (processors/vision/registry.py names both)."""

    role: SafeId
    name: SafeId


class ControlEvent(Event):
    """A change of a client's state, of the policy or of the models, from the control plane."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: SafeId
    client_id: SafeId
    kind: ControlKind
    reason: str = Field("", max_length=500)
    at: EpochMs
    actor: str = Field("cli", max_length=100, description="Who made the change")
    activation: Annotated[ModelActivation | None, Field(
        description="The activation, for kind model-activated (client_id is '_deployment' "
        "then)")] = None


Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Ed25519Signature = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{86}==$")]  # 64 bytes, base64


class AuditCheckpoint(Event):
    """How far the audit log reached, signed with the audit sink's own Ed25519 key.

    A log cut at its end is still a valid hash chain; a checkpoint it no longer reaches, or
    whose line hash it no longer holds, shows the cut (``sinks.audit_anchor``). Only the audit
    sink holds the private key; verifiers hold the public one. ``sequence`` grows by one with
    each checkpoint of a log, so an older checkpoint put back is known for what it is.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    log_id: Sha256Hex = Field(description="hash of the log's first line: which log this is")
    sequence: int = Field(ge=1, le=MAX_INT64, description="1 for a log's first checkpoint, "
                          "then one more for each")
    lines: int = Field(ge=1, le=MAX_INT64, description="lines the log held")
    last_hash: Sha256Hex = Field(description="hash of line `lines`")
    at: EpochMs
    signature: Ed25519Signature = Field(
        description="Ed25519 signature of the other fields (canonical JSON), base64")


EXPORTED_MODELS: tuple[type[Event], ...] = (
    FrameHeaders,
    FaceResult,
    PhoneResult,
    Decision,
    ControlEvent,
    AuditCheckpoint,
)
