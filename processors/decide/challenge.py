"""Step-up challenges in the decide stage: when to ask one, and what its answer does.

Per client, in its ``clients`` table entry (changelog-backed: a restart keeps a running
challenge), a :class:`ChallengeStanding`. For each decided frame :func:`step` runs after
debounce and the temporal gate, before escalation (client_state.rule):

- **Asking.** With no challenge running, one is asked when the policy's ``challenges:`` section
  says so: the main face's liveness lies in the doubt band (``on_doubt``), the frame is the
  first of a session (``at_start``: all clients, or the listed ones), a random check is due
  (``every_s``), or the face moved with the scene around it on ``flat_pairs`` moving frames
  in a row (``on_flat``: a picture held to the camera; FaceResult.scene,
  processors/scene_motion.py; a frame whose face moved against the room ends the run).
  Never more than ``max_per_hour`` in any hour, nor sooner than ``min_gap_s`` after the last
  one ended. The direction is drawn from ``kinds`` with the frame_id as seed,
  so a replayed frame asks the same thing. The decision carries the challenge with
  ``issued`` true; the gateway turns that into the protocol's ``challenge`` message.
  A frame is *doubtful* when passive liveness is unsure of it: the graded policy's
  ``verifying`` of the enrolled person's face (a score between ``liveness.spoof_below`` and
  the threshold; a face held as verifying for its distance is not doubt of this kind), or an
  ``ok`` or
  ``spoof`` frame whose score lies in the doubt band; never a spoof by geometry or by a
  certain score (``strong``).
- **While it runs** every decision carries its progress; a frame that would be allowed gets
  ``hold_action`` (lock_screen), and so does a spoof that is not strong: the person is asked
  to turn their head, and a turned head is a harder case for passive liveness (frames of a
  face turned away score lower), so spoof evidence gathered meanwhile waits for the answer
  instead of signing out on its own. Other actions stand (a phone in view, a strong spoof
  still sign out).
- **Passed** (turn_check.py): the frame is allowed if it is ``ok`` or a spoof in the doubt
  band (not ``verifying``: see :func:`_vouchable`), and so are such frames for ``trust_s``
  after (client_state.py also forgets the spoof evidence of the frames the turn was seen
  on). **Failed**: the spoof action (sign_out), reason ``spoof`` — after ``retry_failed``
  failures in a row were each held (``hold_action``, reason ``spoof``, score
  ``challenge_retry``) and asked again at once (owed, no ``min_gap_s``); a retry left
  unanswered by its deadline ends as a failure; a pass clears them.
  **No answer by the deadline**: the ``challenge_timeout`` action (lock_screen), reason
  ``challenge_timeout`` — unless a spoof was held while it ran: then the spoof action, reason
  ``spoof``, as without a challenge (waiting for an answer never spares an attack). A
  session's first challenge (``at_start``), or one asked of a flat scene (``on_flat``), left
  unanswered is owed (below): sign-in asks for a pass, and a photo that scores as live must
  not get in by waiting out the deadline.
- **Owed.** A challenge that ended in ``spoof``, or a sign-in or flat-scene challenge that
  ran out, is owed: the client's next frames (in this session or the next one: signing in
  again does not dodge it) are asked again as soon as the rate allows (trigger
  ``after_failure``), and until then nothing is allowed. Passive liveness alone let the flat
  pictures of the development data through (they score as live: docs/challenges.md), so only
  a pass clears it.
- A new session of the client while a challenge runs asks it again on the new socket, with a
  fresh deadline: reconnecting does not dodge it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from typing import Any

from processors.decide.challenge_policy import ChallengePolicy
from processors.decide.head_pose import HeadPose
from processors.decide.turn_check import TurnTrial, observe_turn
from schemas.events import Action, ChallengeProgress, ChallengeState, Reason

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ActiveChallenge:
    """The challenge a client is answering."""

    id: str
    trigger: str
    session_id: str
    deadline_at: int
    deadline_ms: int
    trial: TurnTrial
    spoof_held: bool = False  # a spoof was held while it ran: no answer then signs out

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "trigger": self.trigger, "session_id": self.session_id,
                "deadline_at": self.deadline_at, "deadline_ms": self.deadline_ms,
                "trial": self.trial.to_json(), "spoof_held": self.spoof_held}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ActiveChallenge:
        return cls(str(raw["id"]), str(raw["trigger"]), str(raw["session_id"]),
                   int(raw["deadline_at"]), int(raw["deadline_ms"]),
                   TurnTrial.from_json(raw["trial"]), bool(raw.get("spoof_held", False)))


@dataclass(frozen=True)
class ChallengeStanding:
    """One client's challenges: the running one, and what limits the next."""

    active: ActiveChallenge | None = None
    asked: tuple[int, ...] = ()  # when challenges were asked, within the last hour
    last_end: int = 0  # when the last one ended (ms)
    passed_at: int = 0  # when the last one passed (ms)
    start_session: str = ""  # the session whose first frame was already considered
    next_random_at: int = 0  # when a random check is due (0: not drawn yet)
    owed: bool = False  # the last one ended in spoof: ask again before any allow
    retries: int = 0  # failures in a row held and asked again (retry_failed)
    flat_run: int = 0  # this session's moving frames in a row whose scene moved with the face

    def to_json(self) -> dict[str, Any]:
        return {"active": self.active.to_json() if self.active else None,
                "asked": list(self.asked), "last_end": self.last_end,
                "passed_at": self.passed_at, "start_session": self.start_session,
                "next_random_at": self.next_random_at, "owed": self.owed,
                "retries": self.retries, "flat_run": self.flat_run}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ChallengeStanding:
        if not raw:
            return cls()
        active = raw.get("active")
        return cls(ActiveChallenge.from_json(active) if active else None,
                   tuple(int(t) for t in raw.get("asked", ())), int(raw.get("last_end", 0)),
                   int(raw.get("passed_at", 0)), str(raw.get("start_session", "")),
                   int(raw.get("next_random_at", 0)), bool(raw.get("owed", False)),
                   int(raw.get("retries", 0)), int(raw.get("flat_run", 0)))


@dataclass(frozen=True)
class ChallengeSight:
    """What one decided frame offers a challenge."""

    frame_id: str
    client_id: str
    session_id: str
    pose: HeadPose | None  # of the main face; None without a usable face
    matched: bool  # the main face is the enrolled person
    liveness: float | None  # of the main face
    replay: bool = False  # the face lies inside a phone's box (a spoof by geometry)
    strong: bool = False  # a spoof that acts on its own (geometry, a certain score)
    flat: bool | None = None  # the face moved with its scene (True), against it (False)


@dataclass(frozen=True)
class ChallengeStep:
    """The frame's action and reason after challenges, and the client's new standing."""

    action: Action
    reason: Reason
    progress: ChallengeProgress | None
    standing: ChallengeStanding
    scores: dict[str, float] = field(default_factory=dict)


def _rng(frame_id: str) -> random.Random:
    return random.Random(int(hashlib.sha256(frame_id.encode()).hexdigest()[:16], 16))


def _doubtful(reason: Reason, sight: ChallengeSight, policy: ChallengePolicy) -> bool:
    """Passive liveness is unsure of this frame (see the module docstring)."""
    if sight.replay or sight.strong:
        return False
    if reason is Reason.VERIFYING:  # doubtful liveness; not a face held for its identity
        return sight.matched
    return reason in (Reason.OK, Reason.SPOOF) and policy.doubtful(sight.liveness)


def _vouchable(reason: Reason, sight: ChallengeSight, policy: ChallengePolicy) -> bool:
    """Frames a passed challenge vouches for: ``ok``, or a spoof in the doubt band. Never a
    graded ``verifying`` frame: a replay of a real person turning passes the turn check (it
    shows a real head), and its frames, verifying at 0.1-0.45, were then allowed for
    ``trust_s`` (`vigil bench sessions`, a screen replay of the ashish set)."""
    return reason is Reason.OK or (reason is Reason.SPOOF and _doubtful(reason, sight, policy))


def _progress(active: ActiveChallenge, policy: ChallengePolicy, issued: bool
              ) -> ChallengeProgress:
    trial = active.trial
    return ChallengeProgress(
        id=active.id, action=trial.kind, state=trial.state, issued=issued,
        trigger=active.trigger,  # type: ignore[arg-type]  # one of the Literal's values
        deadline_at=active.deadline_at, deadline_ms=active.deadline_ms,
        progress=trial.progress(policy.turn), detail=trial.detail)


def _trusted(standing: ChallengeStanding, policy: ChallengePolicy, now: int) -> bool:
    """Within ``trust_s`` of the last pass."""
    return standing.passed_at > 0 and now - standing.passed_at <= policy.trust_s * 1000


def _trigger(standing: ChallengeStanding, sight: ChallengeSight, reason: Reason,
             policy: ChallengePolicy, now: int) -> str | None:
    """Why a challenge is due on this frame, or None."""
    if standing.owed:
        return "after_failure"
    if policy.asks_at_start(sight.client_id) and standing.start_session != sight.session_id:
        return "session_start"
    doubt = policy.on_doubt and _doubtful(reason, sight, policy)
    if doubt and not _trusted(standing, policy, now):
        return "doubt"
    flat = policy.on_flat and standing.flat_run >= policy.flat_pairs
    if flat and not _trusted(standing, policy, now):
        return "flat_scene"
    if policy.every_s is not None and 0 < standing.next_random_at <= now:
        return "random"
    return None


def _allowed_now(standing: ChallengeStanding, policy: ChallengePolicy, now: int) -> bool:
    """Within ``max_per_hour``, and ``min_gap_s`` after the last one (a retry: at once)."""
    recent = [t for t in standing.asked if t > now - HOUR_MS]
    retry = standing.owed and standing.retries > 0
    return (len(recent) < policy.max_per_hour
            and (retry or standing.last_end == 0
                 or now - standing.last_end >= policy.min_gap_s * 1000))


def _next_random(policy: ChallengePolicy, sight: ChallengeSight, now: int) -> int:
    if policy.every_s is None:
        return 0
    return now + int(_rng(sight.frame_id).expovariate(1.0 / policy.every_s) * 1000) + 1


def step(standing: ChallengeStanding, sight: ChallengeSight, action: Action, reason: Reason,
         policy: ChallengePolicy, spoof_action: Action, timeout_action: Action,
         now: int) -> ChallengeStep:
    """Apply challenges to one frame's action and reason (see the module docstring)."""
    standing = _count_flat(standing, sight)
    if standing.active is not None:
        return _run(standing, standing.active, sight, action, reason, policy, spoof_action,
                    timeout_action, now)
    start_session = sight.session_id
    next_random = standing.next_random_at
    if standing.start_session != sight.session_id or next_random == 0:
        next_random = _next_random(policy, sight, now)
    trigger = _trigger(standing, sight, reason, policy, now)
    standing = replace(standing, start_session=start_session, next_random_at=next_random)
    if trigger is not None and _allowed_now(standing, policy, now):
        return _ask(standing, sight, trigger, action, reason, policy, now)
    if standing.owed and action is Action.ALLOW:  # asked again once the rate allows
        return ChallengeStep(policy.hold_action, reason, None, standing, {"challenge_owed": 1.0})
    if (_trusted(standing, policy, now) and action is not Action.ALLOW
            and _vouchable(reason, sight, policy)):
        return ChallengeStep(Action.ALLOW, reason, None, standing, {"challenge_vouched": 1.0})
    return ChallengeStep(action, reason, None, standing)


def _count_flat(standing: ChallengeStanding, sight: ChallengeSight) -> ChallengeStanding:
    """The session's run of flat moving frames after this one (a still frame leaves it)."""
    run = standing.flat_run if standing.start_session == sight.session_id else 0
    if sight.flat is not None:
        run = run + 1 if sight.flat else 0
    return standing if run == standing.flat_run else replace(standing, flat_run=run)


def _ask(standing: ChallengeStanding, sight: ChallengeSight, trigger: str, action: Action,
         reason: Reason, policy: ChallengePolicy, now: int) -> ChallengeStep:
    kind = _rng(sight.frame_id).choice(policy.kinds)
    deadline_ms = int(policy.deadline_s * 1000)
    trial = observe_turn(TurnTrial(kind), sight.pose, sight.matched, policy.turn)
    active = ActiveChallenge(
        id="ch-" + hashlib.sha256(sight.frame_id.encode()).hexdigest()[:20], trigger=trigger,
        session_id=sight.session_id, deadline_at=now + deadline_ms, deadline_ms=deadline_ms,
        trial=trial)
    asked = (*(t for t in standing.asked if t > now - HOUR_MS), now)
    if policy.every_s is not None and trigger == "random":
        standing = replace(standing, next_random_at=_next_random(policy, sight, now))
    held, active = _held(action, reason, sight, policy, active)
    standing = replace(standing, active=active, asked=asked)
    return ChallengeStep(held, reason, _progress(active, policy, issued=True), standing)


def _held(action: Action, reason: Reason, sight: ChallengeSight, policy: ChallengePolicy,
          active: ActiveChallenge) -> tuple[Action, ActiveChallenge]:
    """While a challenge runs, an allow or a spoof that is not strong waits for its answer
    (the challenge remembers a held spoof: see the module docstring)."""
    if reason is Reason.SPOOF and not (sight.replay or sight.strong):
        return policy.hold_action, replace(active, spoof_held=True)
    if action is Action.ALLOW:
        return policy.hold_action, active
    return action, active


def _run(standing: ChallengeStanding, active: ActiveChallenge, sight: ChallengeSight,
         action: Action, reason: Reason, policy: ChallengePolicy, spoof_action: Action,
         timeout_action: Action, now: int) -> ChallengeStep:
    """One frame of a running challenge."""
    issued = False
    if sight.session_id != active.session_id:  # asked again on the client's new socket
        deadline_ms = int(policy.deadline_s * 1000)
        active = replace(active, session_id=sight.session_id, deadline_at=now + deadline_ms,
                         deadline_ms=deadline_ms)
        issued = True
    trial = observe_turn(active.trial, sight.pose, sight.matched, policy.turn)
    if trial.state is ChallengeState.PENDING and now > active.deadline_at:
        trial = replace(trial, state=ChallengeState.EXPIRED, detail="no answer in time")
    active = replace(active, trial=trial)
    progress = _progress(active, policy, issued)
    if trial.state is ChallengeState.PENDING:
        held, active = _held(action, reason, sight, policy, active)
        return ChallengeStep(held, reason, progress, replace(standing, active=active))
    ended = replace(standing, active=None, last_end=now,
                    start_session=sight.session_id)
    if trial.state is ChallengeState.PASSED:
        passed = replace(ended, passed_at=now, owed=False, retries=0, flat_run=0)
        if action is Action.ALLOW or _vouchable(reason, sight, policy):
            return ChallengeStep(Action.ALLOW, reason, progress, passed)
        held, _ = _held(action, reason, sight, policy, active)  # spoof evidence is forgotten
        return ChallengeStep(held, reason, progress, passed)
    if trial.state is ChallengeState.FAILED and standing.retries < policy.retry_failed:
        retry = replace(ended, owed=True, retries=standing.retries + 1)
        return ChallengeStep(policy.hold_action, Reason.SPOOF, progress, retry,
                             {"challenge_retry": float(retry.retries)})
    # A spoof held meanwhile, or a retry left unanswered, ends as a failure does.
    retry_unanswered = active.trigger == "after_failure" and standing.retries > 0
    if trial.state is ChallengeState.FAILED or active.spoof_held or retry_unanswered:
        return ChallengeStep(spoof_action, Reason.SPOOF, progress,
                             replace(ended, owed=True, retries=0))
    if active.trigger in ("session_start", "flat_scene"):  # a picture must not wait it out
        ended = replace(ended, owed=True)
    return ChallengeStep(timeout_action, Reason.CHALLENGE_TIMEOUT, progress, ended)
