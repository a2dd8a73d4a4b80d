"""Temporal evidence: one frame is weak evidence of a live face, a session is strong.

Per client the decide stage keeps a short liveness history (in its changelog-backed
``clients`` table, so a restart keeps it) and lets a frame be ``allow``\\ed only when the
history agrees:

- **live frames**: after a session starts, and after any frame judged ``spoof``, at least
  ``min_live_frames`` frames of the session must have shown a live main face (the current
  frame included). Frames without a verdict on liveness (no face, a phone in view, a missing
  half, a stale or bad frame, a face too poor to judge) neither count nor reset; a doubtful
  (``verifying``) frame does not count.
- **rolling liveness**: the mean liveness of the main face over the last ``window`` scored
  frames of the session must reach ``rolling_liveness``.

A frame that would be ``allow`` but fails either check gets ``hold_action`` (``lock_screen``
by default) with its own reason unchanged (``ok``, or a debounced reason) and the evidence in
its scores: ``live_frames``, ``live_frames_needed`` and ``rolling_liveness``. So the reason says
what the frame showed and the action says what the session so far supports, as debounce does.

A late frame of an older session (the client reconnected since) changes nothing, except that
a spoof still resets the count: a spoof seen is a spoof.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from schemas.events import Action, Reason

NO_SESSION = ""


@dataclass(frozen=True)
class TemporalPolicy:
    """The temporal part of the policy file (``temporal:``); see the module docstring."""

    min_live_frames: int = 0
    window: int = 1
    rolling_liveness: float = 0.5
    hold_action: Action = Action.LOCK_SCREEN


@dataclass(frozen=True)
class LivenessHistory:
    """One client's liveness evidence in its current session."""

    session_id: str = NO_SESSION
    session_seen_at: int = 0  # latest received_at of the session's frames (ms)
    live_frames: int = 0  # live frames since the session started or the last spoof
    recent: tuple[float, ...] = ()  # main-face liveness of the last scored frames

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "session_seen_at": self.session_seen_at,
                "live_frames": self.live_frames, "recent": list(self.recent)}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> LivenessHistory:
        if not raw:
            return cls()
        return cls(str(raw.get("session_id", NO_SESSION)), int(raw.get("session_seen_at", 0)),
                   int(raw.get("live_frames", 0)),
                   tuple(float(x) for x in raw.get("recent", ())))


@dataclass(frozen=True)
class FrameEvidence:
    """What one decided frame tells the history."""

    session_id: str
    received_at: int
    reason: Reason
    liveness: float | None  # of the main face, when the face chain scored one
    live: bool  # the main face passed the per-frame liveness threshold


# Reasons whose frame says something about liveness. A phone in view does not: the liveness
# crop may have taken in the phone, and the phone reason acts on its own.
_SCORED = frozenset({Reason.OK, Reason.SPOOF, Reason.VERIFYING, Reason.WRONG_USER,
                     Reason.MULTIPLE_FACES})


def observe(history: LivenessHistory, frame: FrameEvidence, window: int) -> LivenessHistory:
    """The history after one frame (see the module docstring for the rules)."""
    if frame.session_id != history.session_id:
        if frame.received_at < history.session_seen_at:  # a late frame of an older session
            return replace(history, live_frames=0) if frame.reason is Reason.SPOOF else history
        history = LivenessHistory(frame.session_id, frame.received_at)
    history = replace(history, session_seen_at=max(history.session_seen_at, frame.received_at))
    if frame.reason not in _SCORED or frame.liveness is None:
        return history
    recent = (*history.recent, frame.liveness)[-max(1, window):]
    if frame.reason is Reason.SPOOF:
        return replace(history, live_frames=0, recent=recent)
    return replace(history, live_frames=history.live_frames + (1 if frame.live else 0),
                   recent=recent)


def rolling_liveness(history: LivenessHistory) -> float | None:
    """Mean liveness over the window, or None before any scored frame."""
    if not history.recent:
        return None
    return sum(history.recent) / len(history.recent)


def gate(history: LivenessHistory, action: Action, policy: TemporalPolicy
         ) -> tuple[Action, dict[str, float]]:
    """An ``allow`` the history does not support becomes ``hold_action``; other actions stay.

    Returns the action and the scores that explain a hold (empty when nothing was held).
    """
    if action is not Action.ALLOW:
        return action, {}
    rolling = rolling_liveness(history)
    enough_frames = history.live_frames >= policy.min_live_frames
    rolling_ok = policy.window <= 1 or (rolling is not None
                                        and rolling >= policy.rolling_liveness)
    if enough_frames and rolling_ok:
        return action, {}
    scores = {"live_frames": float(history.live_frames),
              "live_frames_needed": float(policy.min_live_frames)}
    if rolling is not None:
        scores["rolling_liveness"] = rolling
    return policy.hold_action, scores
