"""Graded verdicts: a bad picture, a doubtful face and a passing phone are not attacks.

Three parts of the policy, each off by default (a policy file without these sections decides as
before) and each named in the policy file:

- **Quality gate** (``quality:``), before liveness: a main face too dark, too bright
  (over-exposed), too blurred, too small or too large (filling the picture, so the liveness
  crops have no context around it) gets reason ``poor_quality`` with the issues in the
  Decision, and a recoverable action (``lock_screen``): a bad webcam is not an attack.
- **Liveness grades** (``liveness:``): a score under the liveness threshold is *doubtful*
  (reason ``verifying``: the session is held while more frames come); under ``spoof_below``
  it is *spoof evidence*; ``spoof`` (and its ``sign_out``) needs ``spoof_frames`` such frames
  among the client's last ``window`` scored frames, or one frame under ``certain_below``, or
  geometry (the face inside a phone's or a screen's box, policy.py). Until the window fills,
  a spoof-evidence frame is decided ``verifying`` with ``spoof_frames`` and
  ``spoof_frames_needed`` in its scores. With ``grace``, one doubtful frame right after an
  ``ok`` one keeps the session allowed (``liveness_grace`` in its scores) when its face, alone
  in the picture, is the enrolled person's by its own distance (client_state.py): a single
  dip of a live face is not a reason to lock; two in a row, or spoof evidence, are.
- **Phone window** (``phone_window:``): besides a frame with a phone at ``phone`` confidence,
  a phone seen at ``threshold`` or more in ``frames`` of the client's last ``window`` frames
  is a phone in use: the weak detector's flickering sightings add up. With ``without_face``
  a phone counts in a frame where no face is found too (someone reading a phone bends their
  head over it, and the face detector loses the face): ``phone``, not ``no_face``. A strong
  spoof (the face inside a phone's or a screen's box, or a certain score) keeps its reason:
  the phone it shows is the replay device.

The per-client windows live in :class:`RecentFrames`, kept in the client's standing
(client_state.py), so a restart of the decide stage keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.events import FaceQuality, QualityIssue, Reason


@dataclass(frozen=True)
class QualityGate:
    """Limits of a usable face; the defaults let every face through."""

    min_brightness: float = 0.0  # mean grey level of the face box, 0-255
    max_brightness: float = 255.0
    max_overexposed: float = 1.0  # share of the face box's pixels burnt out (>= 250)
    min_sharpness: float = 0.0  # variance of the Laplacian at 160x160
    min_face_side: float = 0.0  # shorter side of the face box, in frame pixels
    max_face_fill: float | None = None  # share of the picture's width or height the face box
    #                                     spans (processors/vision/quality.py); None: off

    def issues(self, quality: FaceQuality | None) -> list[QualityIssue]:
        """What is wrong with a face, in the order a person should fix it (none: usable)."""
        if quality is None:
            return []
        found = []
        if quality.side < self.min_face_side:
            found.append(QualityIssue.SMALL)
        if self.max_face_fill is not None and quality.fill > self.max_face_fill:
            found.append(QualityIssue.LARGE)
        if quality.brightness < self.min_brightness:
            found.append(QualityIssue.DARK)
        if (quality.brightness > self.max_brightness
                or quality.overexposed > self.max_overexposed):
            found.append(QualityIssue.BRIGHT)
        if quality.sharpness < self.min_sharpness:
            found.append(QualityIssue.BLURRED)
        return found


@dataclass(frozen=True)
class LivenessGrades:
    """How a score under the liveness threshold is graded (see the module docstring)."""

    spoof_below: float | None = None  # None: the liveness threshold (no verifying band)
    certain_below: float = 0.0  # one frame under this is spoof at once (0: never)
    window: int = 1  # scored frames of the client looked at
    spoof_frames: int = 1  # spoof-evidence frames among them that make a spoof
    grace: bool = False  # one doubtful frame of the enrolled person after an ok one: allowed


@dataclass(frozen=True)
class PhoneWindow:
    """A phone seen in ``frames`` of the last ``window`` frames, at ``threshold`` or more."""

    window: int = 1
    frames: int = 1
    threshold: float | None = None  # None: the phone threshold (the window adds nothing)
    without_face: bool = False  # a phone counts in a frame with no face found (policy.py)


@dataclass(frozen=True)
class LivenessGrade:
    """What one frame's liveness score says, before the client's window is consulted."""

    reason: Reason  # ok, verifying or spoof
    strong: bool = False  # a spoof that acts on its own (under certain_below)


def grade_liveness(score: float, threshold: float, grades: LivenessGrades) -> LivenessGrade:
    """``ok`` at or over the threshold, else ``verifying`` or (spoof evidence) ``spoof``."""
    if score >= threshold:
        return LivenessGrade(Reason.OK)
    spoof_below = threshold if grades.spoof_below is None else grades.spoof_below
    if score < grades.certain_below:
        return LivenessGrade(Reason.SPOOF, strong=True)
    if score < spoof_below:
        return LivenessGrade(Reason.SPOOF)
    return LivenessGrade(Reason.VERIFYING)


@dataclass(frozen=True)
class RecentFrames:
    """One client's recent frames as the windows see them (newest last)."""

    spoofs: tuple[bool, ...] = ()  # per scored frame: was it spoof evidence
    phones: tuple[bool, ...] = ()  # per frame with a phone half: a sighting at the window's
    #                                threshold

    def to_json(self) -> dict[str, Any]:
        return {"spoofs": [int(s) for s in self.spoofs], "phones": [int(p) for p in self.phones]}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> RecentFrames:
        if not raw:
            return cls()
        return cls(tuple(bool(s) for s in raw.get("spoofs", ())),
                   tuple(bool(p) for p in raw.get("phones", ())))


# Reasons decided after the phone check (policy.py's order): a phone window overrides them.
BELOW_PHONE = frozenset({Reason.POOR_QUALITY, Reason.SPOOF, Reason.VERIFYING,
                         Reason.WRONG_USER, Reason.MULTIPLE_FACES, Reason.OK})
# Reasons whose frame carries a liveness score the spoof window counts.
_LIVENESS_SCORED = frozenset({Reason.OK, Reason.SPOOF, Reason.VERIFYING, Reason.WRONG_USER,
                              Reason.MULTIPLE_FACES})


@dataclass(frozen=True)
class Settled:
    """The reason a frame is decided with after the client's windows, and their evidence."""

    reason: Reason
    recent: RecentFrames
    scores: dict[str, float]


def settle(recent: RecentFrames, reason: Reason, strong: bool, scores: dict[str, float],
           grades: LivenessGrades, phones: PhoneWindow, phone_threshold: float) -> Settled:
    """Apply the phone window and the spoof window to one frame's reason.

    ``scores`` are the frame's (``liveness`` and ``phone`` read from them); ``strong`` marks a
    spoof that needs no window (geometry, or a certain score).
    """
    extra: dict[str, float] = {}
    seen = recent.phones
    if "phone" in scores:
        low = phone_threshold if phones.threshold is None else phones.threshold
        seen = (*seen, scores["phone"] >= low)[-phones.window:]
        # A strong spoof (a face inside the phone's own box, or a certain score) keeps its
        # reason: the phone it shows is the replay device, not a phone in use.
        overridable = ((reason in BELOW_PHONE and not (strong and reason is Reason.SPOOF))
                       or (phones.without_face and reason is Reason.NO_FACE))
        if phones.window > 1 and overridable and reason is not Reason.PHONE:
            sightings = sum(seen)
            if sightings >= phones.frames:
                reason = Reason.PHONE
                extra.update(phone_frames=float(sightings),
                             phone_frames_needed=float(phones.frames))
    spoofs = recent.spoofs
    if reason in _LIVENESS_SCORED and "liveness" in scores:
        spoofs = (*spoofs, reason is Reason.SPOOF)[-grades.window:]
        if reason is Reason.SPOOF and not strong and grades.spoof_frames > 1:
            evidence = sum(spoofs)
            extra.update(spoof_frames=float(evidence),
                         spoof_frames_needed=float(grades.spoof_frames))
            if evidence < grades.spoof_frames:
                reason = Reason.VERIFYING
    return Settled(reason, RecentFrames(spoofs, seen), extra)
