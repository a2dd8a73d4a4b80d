"""What the decide stage remembers of one client, and how it turns a verdict into an action.

One :class:`ClientStanding` per client in the ``clients`` table (JSON, changelog-backed):
the streak of one reason (debounce), recent sign-outs (escalation), the state the control
plane gave the client (active, paused, blocked; from ``control`` events and from decide's own
escalation), the liveness history of its session (temporal.py) and its recent identity
distances (identity.py, updated by the decider before :func:`rule`).

:func:`rule` applies, in order: graded.py's windows (phone sightings, spoof evidence: they may
change the frame's reason), debounce, the temporal gate, escalation, then the client's
state — a blocked client's frames get ``block``; a paused client is not being verified, so
an ``allow`` becomes ``lock_screen`` (other actions stand). Scores say why:
``client_blocked`` or ``client_paused`` is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from control.users.db import ClientState
from processors.decide.challenge import ChallengeSight, ChallengeStanding
from processors.decide.challenge import step as challenge_step
from processors.decide.graded import RecentFrames, settle
from processors.decide.identity import IdentityHistory
from processors.decide.policy import (
    Policy,
    Streak,
    Verdict,
    debounced_action,
    escalate,
    next_streak,
)
from processors.decide.temporal import FrameEvidence, LivenessHistory, gate, observe
from schemas.events import (
    Action,
    ChallengeProgress,
    ChallengeState,
    ControlEvent,
    ControlKind,
    Reason,
)

_STATE_OF_EVENT = {ControlKind.BLOCKED: ClientState.BLOCKED,
                   ControlKind.PAUSED: ClientState.PAUSED,
                   ControlKind.RESUMED: ClientState.ACTIVE}


@dataclass(frozen=True)
class ClientStanding:
    """One client's entry in the ``clients`` table; see the module docstring."""

    streak: Streak | None = None
    sign_outs: tuple[int, ...] = ()
    state: ClientState = ClientState.ACTIVE
    history: LivenessHistory = field(default_factory=LivenessHistory)
    recent: RecentFrames = field(default_factory=RecentFrames)
    identity: IdentityHistory = field(default_factory=IdentityHistory)
    challenge: ChallengeStanding = field(default_factory=ChallengeStanding)

    def to_json(self) -> dict[str, Any]:
        return {
            "streak_reason": self.streak.reason.value if self.streak else None,
            "streak": self.streak.count if self.streak else 0,
            "sign_outs": list(self.sign_outs),
            "state": self.state.value,
            "history": self.history.to_json(),
            "recent": self.recent.to_json(),
            "identity": self.identity.to_json(),
            "challenge": self.challenge.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ClientStanding:
        """Read a table value; entries written before a field existed get its default."""
        if not raw:
            return cls()
        streak = (Streak(Reason(raw["streak_reason"]), int(raw["streak"]))
                  if raw.get("streak_reason") else None)
        return cls(streak, tuple(int(t) for t in raw.get("sign_outs", ())),
                   ClientState(raw.get("state", ClientState.ACTIVE.value)),
                   LivenessHistory.from_json(raw.get("history")),
                   RecentFrames.from_json(raw.get("recent")),
                   IdentityHistory.from_json(raw.get("identity")),
                   ChallengeStanding.from_json(raw.get("challenge")))


def apply_control(standing: ClientStanding, event: ControlEvent) -> ClientStanding:
    """The standing after a control event (blocked, paused, resumed; others change nothing)."""
    state = _STATE_OF_EVENT.get(event.kind)
    return standing if state is None else replace(standing, state=state)


@dataclass(frozen=True)
class Ruling:
    """The action for one frame, its scores, the client's new standing, and whether this frame
    escalated the client to ``block`` (the caller then blocks it in the control plane).
    ``reason`` is the verdict's, unless the client's recent frames changed it (graded.py)."""

    action: Action
    scores: dict[str, float]
    standing: ClientStanding
    escalated: bool
    reason: Reason = Reason.OK  # the verdict's, unless recent frames or a challenge changed it
    challenge: ChallengeProgress | None = None


def rule(standing: ClientStanding, verdict: Verdict, frame: FrameEvidence, policy: Policy,
         now_ms: int, sight: ChallengeSight | None = None) -> Ruling:
    """Windows, debounce, temporal gate, step-up challenges (when ``sight`` is given:
    challenge.py), escalation and client state, in that order."""
    settled = settle(standing.recent, verdict.reason, verdict.strong, verdict.scores,
                     policy.grades, policy.phone_window, policy.phone_threshold)
    reason = settled.reason
    scores = {**verdict.scores, **settled.scores}
    streak = next_streak(standing.streak, reason)
    action = debounced_action(streak, policy)
    if (policy.grades.grace and verdict.graceable and reason is Reason.VERIFYING
            and standing.streak is not None and standing.streak.reason is Reason.OK):
        action = Action.ALLOW  # one dip after an ok frame (graded.py); the gate still holds
        scores["liveness_grace"] = 1.0
    needed = policy.frames_needed(reason)
    if needed > 1:
        scores["streak"] = float(streak.count)
        scores["streak_needed"] = float(needed)
    # The history hears the frame's own verdict: spoof evidence resets the session's live
    # frames even while its window is short of a spoof (cheap for genuine users, whose spoof
    # evidence is rare; an attack's frames mostly are); a doubtful (verifying) frame does not.
    history = observe(standing.history, frame, policy.temporal.window)
    action, held = gate(history, action, policy.temporal)
    scores.update(held)
    challenge = standing.challenge
    progress = None
    recent = settled.recent
    if sight is not None:
        taken = challenge_step(challenge, sight, action, reason, policy.challenges,
                               policy.action_for(Reason.SPOOF),
                               policy.actions.get(Reason.CHALLENGE_TIMEOUT,
                                                  Action.LOCK_SCREEN), now_ms)
        action, reason, progress, challenge = (taken.action, taken.reason, taken.progress,
                                               taken.standing)
        scores.update(taken.scores)
        if progress is not None and progress.state is ChallengeState.PASSED:
            # The turn proved a live head: the spoof evidence of the frames it was seen on
            # (a turned face scores lower) must not sign the person out later.
            recent = replace(recent, spoofs=())
    action, sign_outs = escalate(standing.sign_outs, action, now_ms, policy)
    if action in (Action.SIGN_OUT, Action.BLOCK):
        scores["sign_outs"] = float(len(sign_outs) if action is Action.SIGN_OUT
                                    else policy.escalation.sign_outs)
    escalated = action is Action.BLOCK and standing.state is not ClientState.BLOCKED
    state = ClientState.BLOCKED if escalated else standing.state
    if state is ClientState.BLOCKED:
        action = Action.BLOCK
        scores["client_blocked"] = 1.0
    elif state is ClientState.PAUSED and action is Action.ALLOW:
        action = Action.LOCK_SCREEN
        scores["client_paused"] = 1.0
    new = ClientStanding(streak, tuple(sign_outs), state, history, recent,
                         standing.identity, challenge)
    return Ruling(action, scores, new, escalated, reason, progress)
