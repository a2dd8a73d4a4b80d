"""Judging one head-turn challenge, frame by frame, from the head poses of head_pose.py.

A challenge asks the person to turn to their left or right and back. It **passes** when the
nose moves across the eye-mouth square past ``threshold`` towards the asked side and then
comes back within ``return_within`` of where it started (a wide turn: within 30% of its
peak), the enrolled person on the frame that comes back. It **fails** when ``flat_frames``
frames show the face foreshortened by ``flat_aspect_drop`` or more while the nose has not
moved (within ``flat_nose_tolerance``): only a flat picture turned does that, since a head
turned that far carries its nose with it (head_pose.py says why). A turn the other way
counts for nothing; the deadline is the caller's (challenge.py).

The baseline is the first frame with a pose facing the camera (the nose within
``frontal_within`` of the square's middle): a turn is measured from facing the camera, and
the landmarks of a face already turned away are too unsteady to measure from (a photo of a
turned face, slid sideways, moved its nose by 0.2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from processors.decide.challenge_policy import TurnRule
from processors.decide.head_pose import HeadPose
from schemas.events import ChallengeKind, ChallengeState


@dataclass(frozen=True)
class TurnTrial:
    """What one challenge has seen so far."""

    kind: ChallengeKind
    baseline: HeadPose | None = None
    peak: float = 0.0  # farthest nose shift towards the asked side, in square units
    flat_frames: int = 0
    state: ChallengeState = ChallengeState.PENDING
    detail: str = ""

    def progress(self, rule: TurnRule) -> float:
        """0 to 0.5 while turning towards the threshold, 1 once passed."""
        if self.state is ChallengeState.PASSED:
            return 1.0
        return round(0.5 * min(1.0, self.peak / rule.threshold), 3)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value,
                "baseline": self.baseline.to_json() if self.baseline else None,
                "peak": self.peak, "flat_frames": self.flat_frames, "state": self.state.value,
                "detail": self.detail}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TurnTrial:
        base = raw.get("baseline")
        return cls(ChallengeKind(raw["kind"]), HeadPose.from_json(base) if base else None,
                   float(raw.get("peak", 0.0)), int(raw.get("flat_frames", 0)),
                   ChallengeState(raw.get("state", ChallengeState.PENDING.value)),
                   str(raw.get("detail", "")))


FRONTAL_U = 0.5  # the nose halfway between the eyes and mouth corners: facing the camera
RETURN_SHARE = 0.3  # a wide turn is back once within this share of its peak


def _towards(kind: ChallengeKind) -> float:
    # The nose's square coordinate u grows when the person turns to their own left.
    return 1.0 if kind is ChallengeKind.TURN_LEFT else -1.0


def observe_turn(trial: TurnTrial, pose: HeadPose | None, matched: bool,
                 rule: TurnRule) -> TurnTrial:
    """The trial after one frame: its main face's pose (None: no usable face) and whether
    that face is the enrolled person. A decided trial does not change."""
    if trial.state is not ChallengeState.PENDING or pose is None:
        return trial
    if trial.baseline is None:
        if abs(pose.u - FRONTAL_U) > rule.frontal_within:
            return replace(trial, detail="face the camera")
        return replace(trial, baseline=pose, detail="turn")
    base = trial.baseline
    shift = (pose.u - base.u) * _towards(trial.kind)
    peak = max(trial.peak, shift)
    back = abs(pose.u - base.u) <= max(rule.return_within, RETURN_SHARE * peak)
    if peak >= rule.threshold and back:
        if not matched:
            return replace(trial, peak=peak, state=ChallengeState.FAILED,
                           detail="another person came back")
        return replace(trial, peak=peak, state=ChallengeState.PASSED, detail="")
    nose_still = (abs(pose.u - base.u) < rule.flat_nose_tolerance
                  and abs(pose.v - base.v) < rule.flat_nose_tolerance)
    flat = trial.flat_frames + (
        1 if nose_still and pose.aspect <= base.aspect * (1 - rule.flat_aspect_drop) else 0)
    if flat >= rule.flat_frames:
        return replace(trial, peak=peak, flat_frames=flat, state=ChallengeState.FAILED,
                       detail="flat picture turned")
    return replace(trial, peak=peak, flat_frames=flat,
                   detail="come back" if peak >= rule.threshold else "turn")
