"""The join of face and phone results by frame_id, the deadline, and decided-frame dedupe.

State lives in three mappings (Faust changelog-backed Tables in the worker, dicts in tests),
written only while an event of the right partition is being handled, so each changelog record
lands in the partition of the client it belongs to:

``pending`` — frame_id -> ``{"p": partition, "client_id", "first_seen_ms", "face": json|None,
    "phone": json|None}`` while waiting for the other half (small: a few seconds of frames).
``decided`` — frame_id -> ``{"p": partition, "decided_at": ms}``, kept
    ``decided_frames_ttl_s`` so a replayed or late half makes no second Decision.
``clients`` — client_id -> a ClientStanding as JSON (client_state.py): streak, sign-outs,
    the state the control plane gave the client, and its session's liveness history.

A half marked ``unprocessed`` decides at once: ``bad_frame`` and ``stale`` make a Decision
with that reason without waiting for the other half; ``session_ended`` makes none (nobody is
waiting for it), and the frame counts as decided so its other half is ignored.

Values are replaced, never mutated in place: a Faust table writes its changelog on assignment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from processors.decide.challenge import ChallengeSight
from processors.decide.client_state import ClientStanding, apply_control, rule
from processors.decide.head_pose import try_head_pose
from processors.decide.identity import judge_identity
from processors.decide.policy import (
    Half,
    Policy,
    Verdict,
    evaluate,
    is_enrolled_user,
    is_live_face,
)
from processors.decide.temporal import FrameEvidence
from processors.verdict import main_face
from schemas.events import (
    ControlEvent,
    Decision,
    FaceResult,
    PhoneResult,
    Unprocessed,
    now_ms,
)
from vigil.core import metrics
from vigil.core.flow import DECIDE_STAGE, FACE_RESULTS, PHONE_RESULTS

log = logging.getLogger(__name__)

State = MutableMapping[Any, Any]


@dataclass(frozen=True)
class Outcome:
    """A Decision to publish, and whether the client must be blocked in the control plane."""

    decision: Decision
    block: bool


class Decider:
    """Joins results per frame and turns complete (or overdue) frames into Decisions."""

    def __init__(
        self,
        pending: State,
        decided: State,
        clients: State,
        policy: Callable[[], Policy],
        deadline_ms: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.pending = pending
        self.decided = decided
        self.clients = clients
        self.policy = policy
        self.deadline_ms = deadline_ms
        self.clock = clock

    def on_result(
        self, half: Half, result: FaceResult | PhoneResult, partition: int
    ) -> Outcome | None:
        """Record one half; decide when both are in. None while waiting or for a repeat."""
        if result.frame_id in self.decided:
            log.info("duplicate result ignored frame_id=%s client_id=%s half=%s",
                     result.frame_id, result.client_id, half)
            return None
        entry = self.pending.get(result.frame_id)
        if entry is None:
            entry = {"p": partition, "client_id": result.client_id,
                     "first_seen_ms": self.clock(), "face": None, "phone": None}
        elif entry.get(half) is not None:
            log.info("repeated %s half ignored frame_id=%s", half, result.frame_id)
            return None
        entry = {**entry, half: result.model_dump_json()}
        if result.unprocessed is Unprocessed.SESSION_ENDED:
            self._skip(result.frame_id, entry)
            return None
        if result.unprocessed is None and (entry["face"] is None or entry["phone"] is None):
            self.pending[result.frame_id] = entry
            return None
        return self._decide(result.frame_id, entry)

    def on_control(self, event: ControlEvent) -> None:
        """Record a client's new state (blocked, paused, resumed) for its next frames."""
        before = ClientStanding.from_json(self.clients.get(event.client_id))
        after = apply_control(before, event)
        if after != before:
            self.clients[event.client_id] = after.to_json()
            log.info("client state client_id=%s state=%s event_id=%s actor=%s",
                     event.client_id, after.state.value, event.event_id, event.actor)

    def _skip(self, frame_id: str, entry: dict[str, Any]) -> None:
        """A frame of an ended session: no Decision, and its other half is a repeat."""
        self.decided[frame_id] = {"p": entry["p"], "decided_at": self.clock()}
        if frame_id in self.pending:
            del self.pending[frame_id]
        metrics.FRAMES_DROPPED.labels(DECIDE_STAGE.name, Unprocessed.SESSION_ENDED.value).inc()
        log.info("frame of an ended session skipped frame_id=%s client_id=%s", frame_id,
                 entry["client_id"])

    def overdue(self, partition: int | None = None) -> list[str]:
        """frame_ids still pending after the deadline (of one partition, or all)."""
        cutoff = self.clock() - self.deadline_ms
        return [
            frame_id
            for frame_id, entry in list(self.pending.items())
            if (partition is None or entry["p"] == partition)
            and entry["first_seen_ms"] <= cutoff
        ]

    def overdue_partitions(self) -> set[int]:
        """Partitions holding a frame pending past the deadline."""
        cutoff = self.clock() - self.deadline_ms
        return {int(e["p"]) for e in list(self.pending.values()) if e["first_seen_ms"] <= cutoff}

    def expired_partitions(self, ttl_ms: int) -> set[int]:
        """Partitions holding a decided frame_id older than ``ttl_ms``."""
        cutoff = self.clock() - ttl_ms
        return {int(e["p"]) for e in list(self.decided.values()) if e["decided_at"] <= cutoff}

    def on_deadline(self, partition: int) -> list[Outcome]:
        """Decide every overdue frame of one partition as ``incomplete``."""
        return [self._decide(fid, self.pending[fid]) for fid in self.overdue(partition)]

    def expired(self, ttl_ms: int, partition: int | None = None) -> list[str]:
        """Decided frame_ids older than ``ttl_ms`` (of one partition, or all)."""
        cutoff = self.clock() - ttl_ms
        return [
            frame_id
            for frame_id, entry in list(self.decided.items())
            if (partition is None or entry["p"] == partition)
            and entry["decided_at"] <= cutoff
        ]

    def sweep(self, ttl_ms: int, partition: int, limit: int | None = None) -> int:
        """Forget decided frame_ids of one partition older than ``ttl_ms``, at most ``limit``
        of them (the oldest first); returns how many. Each one is a changelog write on the
        decide loop, so a sweep of thousands stalls every decision behind it."""
        old = self.expired(ttl_ms, partition)[:limit]
        for frame_id in old:
            del self.decided[frame_id]
        return len(old)

    def _decide(self, frame_id: str, entry: dict[str, Any]) -> Outcome:
        face = FACE_RESULTS.serializer.loads(entry["face"].encode()) if entry["face"] else None
        phone = PHONE_RESULTS.serializer.loads(entry["phone"].encode()) if entry["phone"] else None
        base: FaceResult | PhoneResult | None = face if face is not None else phone
        assert base is not None, "a pending frame always holds one half"
        policy = self.policy()
        decided_at = self.clock()
        standing = ClientStanding.from_json(self.clients.get(base.client_id))
        verdict, standing = judged_verdict(evaluate(face, phone, policy), face, standing, policy)
        ruling = rule(standing, verdict, evidence_of(base, face, verdict, policy), policy,
                      decided_at, sight_of(base, face, verdict, policy))
        decision = Decision(
            frame_id=base.frame_id, client_id=base.client_id, session_id=base.session_id,
            seq=base.seq, frame=base.frame, captured_at=base.captured_at,
            received_at=base.received_at, decided_at=decided_at, action=ruling.action,
            reason=ruling.reason, scores=ruling.scores, missing=verdict.missing,
            policy_version=policy.version, gateway_id=None, issues=verdict.issues,
            models={**(face.models if face else {}), **(phone.models if phone else {})},
            challenge=ruling.challenge,
        )
        # Every changelog write is flushed before the input offsets are committed.
        self.clients[base.client_id] = ruling.standing.to_json()
        self.decided[frame_id] = {"p": entry["p"], "decided_at": decided_at}
        if frame_id in self.pending:
            del self.pending[frame_id]
        return Outcome(decision, block=ruling.escalated)


def judged_verdict(verdict: Verdict, face: FaceResult | None, standing: ClientStanding,
                   policy: Policy) -> tuple[Verdict, ClientStanding]:
    """The frame's verdict with identity judged over the session's recent frames
    (identity.py), and the standing holding the new identity history."""
    main = main_face(face.faces) if face is not None and face.error is None else None
    judged = judge_identity(standing.identity, verdict.reason, face, main,
                            policy.verify_threshold, policy.identity)
    verdict = replace(verdict, reason=judged.reason,  # keeps strong and issues (graded.py)
                      scores={**verdict.scores, **judged.scores})
    return verdict, replace(standing, identity=judged.history)


def evidence_of(base: FaceResult | PhoneResult, face: FaceResult | None, verdict: Verdict,
                policy: Policy) -> FrameEvidence:
    """What the frame tells the client's liveness history (temporal.py)."""
    main = main_face(face.faces) if face is not None and face.error is None else None
    return FrameEvidence(
        session_id=base.session_id, received_at=base.received_at, reason=verdict.reason,
        liveness=main.liveness if main is not None else None,
        live=bool(face is not None and main is not None and is_live_face(face, main, policy)))


def sight_of(base: FaceResult | PhoneResult, face: FaceResult | None, verdict: Verdict,
             policy: Policy) -> ChallengeSight:
    """What the frame offers a step-up challenge (challenge.py)."""
    main = main_face(face.faces) if face is not None and face.error is None else None
    return ChallengeSight(
        frame_id=base.frame_id, client_id=base.client_id, session_id=base.session_id,
        pose=try_head_pose(main.landmarks) if main is not None else None,
        matched=bool(face is not None and main is not None
                     and is_enrolled_user(face, main, policy)),
        liveness=main.liveness if main is not None else None,
        replay="replay_overlap" in verdict.scores, strong=verdict.strong,
        flat=(policy.challenges.flat_scene(face.scene.motion, face.scene.residual)
              if face is not None and face.scene is not None else None))
