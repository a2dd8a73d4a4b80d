"""The decision policy as pure functions: no broker, no clock, no files.

The seed's security decision flow, checked in this order on the main face (the largest box):

1. a processor could not decode the frame        -> ``bad_frame``
2. a processor reached the frame too late       -> ``stale``
3. a half missing (deadline passed) or failed (``error`` set) -> ``incomplete``
4. no face                                   -> ``no_face``; with ``phone_window.without_face``
   a phone (confidence >= threshold) then is ``phone``: a head bent over a phone hides the face
5. the face lies mostly inside a phone's or a screen's box -> ``spoof`` (a replay on a
   device; strong evidence: it needs no window, graded.py)
6. a phone (confidence >= threshold)         -> ``phone``, whatever the liveness crop made of it
7. the face too dark, bright, blurred, small or large (the policy's ``quality:``)
                                             -> ``poor_quality``
8. not live (liveness < threshold)           -> ``verifying`` or ``spoof`` (graded.py)
9. not the enrolled user (distance > verify threshold, or nothing enrolled) -> ``wrong_user``
   (the enrolled person's own threshold when the face stage sent one; the decider then
   judges identity over the session's recent frames, identity.py)
10. more than one face                       -> ``multiple_faces``
11. otherwise                                -> ``ok`` (``allow``, unless temporal.py holds it)

Replay versus phone-in-hand is geometry: the share of the main face's box that lies inside a
phone box (``replay_overlap`` threshold, default 0.6). A face shown on a phone's screen lies
inside the phone's box; a phone held beside the face does not, and then the liveness score
is not trusted (its crop, 2.7-4x the face box, takes in the phone). A replay's scores name
the device: ``replay_overlap`` (the share), ``replay_phone`` (that box's confidence) and, for
a screen (COCO ``tv`` or ``laptop``, counted from ``thresholds.screen``), ``replay_screen`` 1.
After this frame-level verdict, graded.py's windows (phone sightings, spoof evidence) settle
the reason with the client's recent frames (client_state.py).

A ``bad_frame`` or ``stale`` half decides the frame at once: the other processor decodes the
same bytes at about the same age. A result whose ``error`` is set counts as a missing half:
the stage that produced it could not judge the frame, so the decision is ``incomplete``
naming that half, with the action the policy gives ``incomplete`` (``lock_screen`` by
default) — never ``allow`` on half the evidence.

Debounce: a reason acts only after ``debounce[reason]`` consecutive frames of one client with
that reason. Before that the decision is ``allow`` carrying the observed reason, with
``streak`` and ``streak_needed`` in its scores, so clients and auditors see what is building up.

Escalation: ``escalation.sign_outs`` sign-outs of one client within ``escalation.window_s``
seconds turn the action into ``block`` (and the caller blocks the client in the control plane).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from processors.decide.challenge_policy import ChallengePolicy
from processors.decide.graded import (
    LivenessGrade,
    LivenessGrades,
    PhoneWindow,
    QualityGate,
    grade_liveness,
)
from processors.decide.identity import IdentityPolicy, threshold_for
from processors.decide.temporal import TemporalPolicy
from processors.verdict import is_live, is_match, main_face
from schemas.events import (
    Action,
    Box,
    Face,
    FaceResult,
    PhoneDetection,
    PhoneResult,
    QualityIssue,
    Reason,
    Unprocessed,
)

Half = Literal["face", "phone"]


@dataclass(frozen=True)
class Escalation:
    """``sign_outs`` sign-outs within ``window_s`` seconds escalate to ``block``."""

    sign_outs: int = 3
    window_s: float = 600.0


@dataclass(frozen=True)
class Policy:
    """A resolved, validated policy (see policy_file.py for where it comes from)."""

    version: str
    liveness_threshold: float
    verify_threshold: float
    phone_threshold: float
    actions: dict[Reason, Action]
    debounce: dict[Reason, int]
    escalation: Escalation = field(default_factory=Escalation)
    replay_overlap: float = 0.6
    temporal: TemporalPolicy = field(default_factory=TemporalPolicy)
    screen_threshold: float | None = None  # a screen's confidence counted for replays; None: off
    quality: QualityGate = field(default_factory=QualityGate)
    grades: LivenessGrades = field(default_factory=LivenessGrades)
    phone_window: PhoneWindow = field(default_factory=PhoneWindow)
    identity: IdentityPolicy = field(default_factory=IdentityPolicy)
    challenges: ChallengePolicy = field(default_factory=ChallengePolicy)  # challenge.py

    def action_for(self, reason: Reason) -> Action:
        return Action.ALLOW if reason is Reason.OK else self.actions[reason]

    def frames_needed(self, reason: Reason) -> int:
        return 1 if reason is Reason.OK else self.debounce.get(reason, 1)


@dataclass(frozen=True)
class Verdict:
    """What one frame shows, before debounce and escalation."""

    reason: Reason
    scores: dict[str, float]
    missing: list[Half] = field(default_factory=list)
    strong: bool = False  # a spoof that needs no window (geometry, a certain score)
    issues: list[QualityIssue] = field(default_factory=list)  # for poor_quality
    # verifying by liveness alone: one face, the enrolled person's (liveness.grace may allow it)
    graceable: bool = False


@dataclass(frozen=True)
class Streak:
    """Consecutive frames of one client with the same reason."""

    reason: Reason
    count: int


def scores_of(face: FaceResult | None, phone: PhoneResult | None) -> dict[str, float]:
    """liveness and distance of the main face, the best phone confidence, the face count."""
    scores: dict[str, float] = {}
    if face is not None and face.error is None:
        scores["faces"] = float(len(face.faces))
        main = main_face(face.faces)
        if main is not None and main.liveness is not None:
            scores["liveness"] = main.liveness
        if main is not None and main.distance is not None:
            scores["distance"] = main.distance
    if phone is not None and phone.error is None:
        scores["phone"] = max((p.confidence for p in phone.phones if p.is_phone), default=0.0)
    return scores


def missing_halves(face: FaceResult | None, phone: PhoneResult | None) -> list[Half]:
    """The halves that are absent or carry an ``error``, face first."""
    missing: list[Half] = []
    if face is None or face.error is not None:
        missing.append("face")
    if phone is None or phone.error is not None:
        missing.append("phone")
    return missing


def is_live_face(face: FaceResult, main: Face, policy: Policy) -> bool:
    """The verdict under the policy's threshold; the processor's own flag only when it
    computed no score for the main face."""
    return is_live(main, policy.liveness_threshold, unscored=face.live)


def liveness_grade(face: FaceResult, main: Face, policy: Policy) -> LivenessGrade:
    """``ok``, ``verifying`` or ``spoof`` for the main face's liveness (graded.py)."""
    if main.liveness is None:  # the processor's own flag when it computed no score
        return LivenessGrade(Reason.OK if face.live else Reason.SPOOF)
    return grade_liveness(main.liveness, policy.liveness_threshold, policy.grades)


def is_enrolled_user(face: FaceResult, main: Face, policy: Policy) -> bool:
    """Enrolled and within the client's own threshold when the face stage sent one, else the
    policy's (the processor's flag when the main face has no distance)."""
    threshold = threshold_for(face, policy.verify_threshold, policy.identity)
    return face.enrolled and is_match(main, threshold, unscored=face.match)


def overlap_share(inner: Box, outer: Box) -> float:
    """The share of ``inner``'s area that lies inside ``outer`` (0 for an empty box)."""
    area = (inner.x2 - inner.x1) * (inner.y2 - inner.y1)
    if area <= 0:
        return 0.0
    width = min(inner.x2, outer.x2) - max(inner.x1, outer.x1)
    height = min(inner.y2, outer.y2) - max(inner.y1, outer.y1)
    return max(0.0, width) * max(0.0, height) / area


def counts_as_device(box: PhoneDetection, policy: Policy) -> bool:
    """A phone at the phone threshold, or a screen at the screen threshold (when set)."""
    if box.is_phone:
        return box.confidence >= policy.phone_threshold
    return policy.screen_threshold is not None and box.confidence >= policy.screen_threshold


def replay_device(main: Face, phones: Sequence[PhoneDetection], policy: Policy
                  ) -> tuple[PhoneDetection, float] | None:
    """The phone or screen whose box holds most of the main face, if it counts as a replay
    device."""
    shares = [(p, overlap_share(main.box, p.box)) for p in phones
              if counts_as_device(p, policy)]
    best = max(shares, key=lambda pair: pair[1], default=None)
    return best if best is not None and best[1] >= policy.replay_overlap else None


_UNPROCESSED_REASON = {Unprocessed.BAD_FRAME: Reason.BAD_FRAME, Unprocessed.STALE: Reason.STALE}


def unprocessed_reason(face: FaceResult | None, phone: PhoneResult | None) -> Reason | None:
    """``bad_frame`` or ``stale`` when a half says its processor did not run its models."""
    marks = {r.unprocessed for r in (face, phone) if r is not None}
    for mark in (Unprocessed.BAD_FRAME, Unprocessed.STALE):
        if mark in marks:
            return _UNPROCESSED_REASON[mark]
    return None


def seen_phone(phone: PhoneResult, policy: Policy) -> bool:
    """A phone box at the phone threshold or over it."""
    return any(p.is_phone and p.confidence >= policy.phone_threshold for p in phone.phones)


def evaluate(face: FaceResult | None, phone: PhoneResult | None, policy: Policy) -> Verdict:
    """The reason for one frame, in the order of the module docstring."""
    scores = scores_of(face, phone)
    unprocessed = unprocessed_reason(face, phone)
    if unprocessed is not None:
        return Verdict(unprocessed, scores)
    missing = missing_halves(face, phone)
    if missing:
        return Verdict(Reason.INCOMPLETE, scores, missing)
    assert face is not None and phone is not None
    main = main_face(face.faces)
    if main is None:
        if policy.phone_window.without_face and seen_phone(phone, policy):
            return Verdict(Reason.PHONE, scores)
        return Verdict(Reason.NO_FACE, scores)
    replay = replay_device(main, phone.phones, policy)
    if replay is not None:
        scores["replay_overlap"] = replay[1]
        scores["replay_phone"] = replay[0].confidence
        if not replay[0].is_phone:
            scores["replay_screen"] = 1.0
        return Verdict(Reason.SPOOF, scores, strong=True)
    if seen_phone(phone, policy):
        return Verdict(Reason.PHONE, scores)
    issues = policy.quality.issues(main.quality)
    if issues:
        return Verdict(Reason.POOR_QUALITY, scores, issues=issues)
    grade = liveness_grade(face, main, policy)
    if grade.reason is not Reason.OK:
        graceable = (grade.reason is Reason.VERIFYING and len(face.faces) == 1
                     and is_enrolled_user(face, main, policy))
        return Verdict(grade.reason, scores, strong=grade.strong, graceable=graceable)
    if not is_enrolled_user(face, main, policy):
        reason = Reason.WRONG_USER
    elif len(face.faces) > 1:
        reason = Reason.MULTIPLE_FACES
    else:
        reason = Reason.OK
    return Verdict(reason, scores)


def next_streak(previous: Streak | None, reason: Reason) -> Streak:
    """The client's streak after a frame with ``reason``."""
    if previous is not None and previous.reason is reason:
        return Streak(reason, previous.count + 1)
    return Streak(reason, 1)


def debounced_action(streak: Streak, policy: Policy) -> Action:
    """The policy's action once the streak is long enough, ``allow`` before that."""
    if streak.count >= policy.frames_needed(streak.reason):
        return policy.action_for(streak.reason)
    return Action.ALLOW


def escalate(
    sign_outs: Sequence[int], action: Action, now_ms: int, policy: Policy
) -> tuple[Action, list[int]]:
    """Apply escalation to an action; returns the final action and the kept sign-out times.

    Only sign-outs inside the window are kept. On reaching the count the action becomes
    ``block`` and the history starts again, so the next block needs a fresh run of sign-outs.
    """
    window_start = now_ms - int(policy.escalation.window_s * 1000)
    kept = [t for t in sign_outs if t > window_start]
    if action is not Action.SIGN_OUT:
        return action, kept
    kept.append(now_ms)
    if len(kept) >= policy.escalation.sign_outs:
        return Action.BLOCK, []
    return action, kept
