"""The join of face and phone results by frame_id, the deadline, and decided-frame dedupe.

State lives in three mappings (Faust changelog-backed Tables in the worker, dicts in tests),
written only while an event of the right partition is being handled, so each changelog record
lands in the partition of the client it belongs to:

``pending`` — frame_id -> ``{"p": partition, "client_id", "first_seen_ms", "face": json|None,
    "phone": json|None}`` while waiting for the other half (small: a few seconds of frames).
``decided`` — frame_id -> ``{"p": partition, "decided_at": ms}``, kept
    ``decided_frames_ttl_s`` so a replayed or late half makes no second Decision.
``clients`` — client_id -> ``{"streak_reason", "streak", "sign_outs": [ms, ...]}``

Values are replaced, never mutated in place: a Faust table writes its changelog on assignment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from processors.decide.policy import (
    Half,
    Policy,
    Streak,
    debounced_action,
    escalate,
    evaluate,
    next_streak,
)
from schemas.events import Action, Decision, FaceResult, PhoneResult, Reason, now_ms
from vigil.core.topics import FACE_RESULTS, PHONE_RESULTS

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
        if entry["face"] is None or entry["phone"] is None:
            self.pending[result.frame_id] = entry
            return None
        return self._decide(result.frame_id, entry)

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

    def sweep(self, ttl_ms: int, partition: int) -> int:
        """Forget decided frame_ids of one partition older than ``ttl_ms``; returns how many."""
        old = self.expired(ttl_ms, partition)
        for frame_id in old:
            del self.decided[frame_id]
        return len(old)

    def _decide(self, frame_id: str, entry: dict[str, Any]) -> Outcome:
        face = FACE_RESULTS.serializer.loads(entry["face"].encode()) if entry["face"] else None
        phone = PHONE_RESULTS.serializer.loads(entry["phone"].encode()) if entry["phone"] else None
        base: FaceResult | PhoneResult | None = face if face is not None else phone
        assert base is not None, "a pending frame always holds one half"
        policy = self.policy()
        verdict = evaluate(face, phone, policy)
        decided_at = self.clock()
        action, scores = self._apply_client_state(base.client_id, verdict.reason, verdict.scores,
                                                  decided_at, policy)
        decision = Decision(
            frame_id=base.frame_id, client_id=base.client_id, session_id=base.session_id,
            seq=base.seq, frame=base.frame, captured_at=base.captured_at,
            received_at=base.received_at, decided_at=decided_at, action=action,
            reason=verdict.reason, scores=scores, missing=verdict.missing,
            policy_version=policy.version, gateway_id=None,
        )
        # Both changelog writes are flushed before the input offsets are committed.
        self.decided[frame_id] = {"p": entry["p"], "decided_at": decided_at}
        if frame_id in self.pending:
            del self.pending[frame_id]
        return Outcome(decision, block=action is Action.BLOCK)

    def _apply_client_state(
        self, client_id: str, reason: Reason, scores: dict[str, float], now: int, policy: Policy
    ) -> tuple[Action, dict[str, float]]:
        """Debounce and escalation against the client's stored streak and sign-outs."""
        state = self.clients.get(client_id) or {}
        previous = (Streak(Reason(state["streak_reason"]), int(state["streak"]))
                    if state.get("streak_reason") else None)
        streak = next_streak(previous, reason)
        action = debounced_action(streak, policy)
        scores = dict(scores)
        needed = policy.frames_needed(reason)
        if needed > 1:
            scores["streak"] = float(streak.count)
            scores["streak_needed"] = float(needed)
        action, sign_outs = escalate(state.get("sign_outs", []), action, now, policy)
        if action in (Action.SIGN_OUT, Action.BLOCK):
            scores["sign_outs"] = float(len(sign_outs) if action is Action.SIGN_OUT
                                        else policy.escalation.sign_outs)
        self.clients[client_id] = {"streak_reason": streak.reason.value,
                                   "streak": streak.count, "sign_outs": sign_outs}
        return action, scores
