"""One presented session through the decide stage's own code, as the Faust app decides it.

Each frame gets headers as the gateway gives them (``captured_at`` = ``received_at`` = the
session's start + ``seq / fps``), its FaceResult from :func:`processors.face.to_face_result`
(distances to the enrolled person's embeddings, as the face processor computes them; with
``scene_motion_max_gap_ms``, the face's movement against its scene from the face stage's own
tracker, processors/scene_motion.py) and its
PhoneResult from :func:`processors.phone.to_phone_result` (with ``phone_reuse_max_gap_ms``, through
the phone stage's own gate, processors/phone_reuse.py: a frame whose scene has not changed gets
the last checked frame's detections). Both halves go, frame after frame,
to a fresh :class:`processors.decide.decider.Decider` (empty tables: a new client) whose clock
reads the frame's time: the join, the whole policy (debounce, temporal evidence and holds,
escalation, client state, step-up challenges) and whatever the policy gains later, with no
broker. Processing time is not simulated: a decision is made at its frame's capture time.
A head-turn session runs under :func:`asking`: the challenge is asked on its first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from processors.batch import DecodedFrame
from processors.decide.decider import Decider
from processors.decide.policy import Policy
from processors.face import to_face_result
from processors.phone import gate_frame, to_phone_result
from processors.phone_reuse import PhoneReuse
from processors.scene_motion import SceneTracker, with_scene
from processors.vision.results import PhoneDetections
from schemas.events import (
    Action,
    ChallengeKind,
    ChallengeState,
    Decision,
    FrameHeaders,
    FrameRef,
    Reason,
)
from vigil.apps.bench.sessions.outputs import FrameOutputs
from vigil.core.settings import Settings
from vigil.core.template import Template

START_MS = 1_800_000_000_000  # any fixed time: runs are reproducible
CLIENT = "bench-client"
DEVICE = "bench"
# The models ran already (outputs.py); a result needs the frame's headers, not its pixels.
_NO_PIXELS = np.zeros((0, 0, 3), dtype=np.uint8)


@dataclass(frozen=True)
class Step:
    """One frame's decision, with the seconds since the session's first frame."""

    t_s: float
    action: Action
    reason: Reason
    liveness: float | None
    distance: float | None
    phone: float | None
    challenge: ChallengeState | None = None  # of the challenge the decision carries
    phone_reused: bool = False  # the phone half repeated an earlier frame's detections

    @classmethod
    def of(cls, t_s: float, decision: Decision, phone_reused: bool = False) -> Step:
        scores = decision.scores
        return cls(t_s, decision.action, decision.reason, scores.get("liveness"),
                   scores.get("distance"), scores.get("phone"),
                   decision.challenge.state if decision.challenge else None, phone_reused)


def asking(policy: Policy, kind: ChallengeKind | None) -> Policy:
    """The policy asking a ``kind`` challenge at the session's start (None: as it is)."""
    if kind is None:
        return policy
    return replace(policy, challenges=replace(policy.challenges, at_start=True, kinds=(kind,)))


def _frame(seq: int, at_ms: int, session_id: str) -> DecodedFrame:
    headers = FrameHeaders(frame_id=f"{session_id}-{seq}", client_id=CLIENT,
                           session_id=session_id, seq=seq, captured_at=at_ms,
                           received_at=at_ms)
    return DecodedFrame(headers, FrameRef(topic="frames", partition=0, offset=seq), _NO_PIXELS)


def decide_session(outputs: Sequence[FrameOutputs], enrolled: np.ndarray | None,
                   settings: Settings, policy: Policy, fps: float,
                   session_id: str = "bench-session",
                   threshold: float | None = None) -> list[Step]:
    """Every frame's decision, in frame order (see the module docstring); ``threshold`` is
    the enrolled person's own (--per-person), None for the global one."""
    now = [START_MS]
    decider = Decider({}, {}, {}, lambda: policy, deadline_ms=settings.decide.deadline_ms,
                      clock=lambda: now[0])
    steps = []
    # The global threshold unless --per-person chose the person's own (cohort.py).
    template = None if enrolled is None else Template(enrolled, threshold)
    reuse = PhoneReuse.from_settings(settings)  # a new client: nothing checked yet
    scene = SceneTracker.from_settings(settings)  # nor seen
    for seq, found in enumerate(outputs):
        now[0] = START_MS + round(seq * 1000 / fps)
        frame = _frame(seq, now[0], session_id)
        face = to_face_result(frame, found.faces, template, settings, DEVICE, now[0], {})
        if found.grey is not None:
            face = with_scene(scene, face, found.grey, found.size)
        phones, reused_from = _phone_half(reuse, frame, found)
        phone = to_phone_result(frame, phones, DEVICE, now[0], {}, reused_from)
        first = decider.on_result("face", face, 0)
        outcome = decider.on_result("phone", phone, 0)
        assert first is None and outcome is not None, "both halves in: one decision"
        steps.append(Step.of((now[0] - START_MS) / 1000, outcome.decision,
                             reused_from is not None))
    return steps


def _phone_half(reuse: PhoneReuse, frame: DecodedFrame, found: FrameOutputs
                ) -> tuple[PhoneDetections, str | None]:
    """The frame's phone detections as the phone stage would give them: its own, or with
    reuse on and the scene unchanged, the client's last checked frame's."""
    if not reuse.enabled or found.thumb is None:
        return found.phones, None
    plan = reuse.plan([gate_frame(frame, found.thumb)])
    plan.fill([found.phones] if plan.run else [])
    return plan.result(0)
