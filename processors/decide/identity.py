"""Identity evidence over a session: one frame does not decide who is at the keyboard.

A single frame's distance to the enrolled embeddings is noisy: a blink, a turned head or motion
blur can push the owner's distance over the threshold, and a lucky frame can bring an
impostor's under it. So the decide stage keeps, per client, the main face's distances of the
last ``window`` identity frames of the session (in its changelog-backed ``clients`` table) and
judges identity on their **median**: the owner is refused only when most recent frames look
like someone else, and an impostor passes only when most look like the owner. With ``window``
5 at 2 frames a second, a person swapped in mid-session is ``wrong_user`` from the third of
their frames (1.5 s). ``window`` 1 is the frame alone.

The median alone would *allow* the swapped-in person's first two frames (the window still
holds the owner's). With ``hold_mismatch`` a frame whose own distance is over the threshold is
never allowed: while the median still says "owner" it is held as ``verifying`` (the
``verifying`` action, ``lock_screen`` as shipped: one frame, recoverable, not ``wrong_user``),
and from the frame where the median turns it is ``wrong_user``. The owner's one odd frame
then costs that frame (held), never a ``wrong_user``.

An identity frame is one whose verdict got as far as the identity check (a live main face, no
phone, a client with enrolled embeddings): reasons ``ok``, ``wrong_user`` and
``multiple_faces`` with a distance. Other frames neither add nor clear distances; a new
session starts an empty window.

The threshold is the enrolled person's own when the face stage sent one (``verify_threshold``
of the FaceResult, set at enrollment for a target FMR against an impostor cohort, see
control/users/thresholds.py) and ``per_person`` is on; otherwise the policy's ``verify``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any

from schemas.events import Face, FaceResult, Reason

NO_SESSION = ""
_IDENTITY_REASONS = frozenset({Reason.OK, Reason.WRONG_USER, Reason.MULTIPLE_FACES})


@dataclass(frozen=True)
class IdentityPolicy:
    """The ``identity:`` part of the policy file; see the module docstring."""

    window: int = 1
    per_person: bool = True
    hold_mismatch: bool = False


@dataclass(frozen=True)
class IdentityHistory:
    """One client's recent identity distances in its current session."""

    session_id: str = NO_SESSION
    distances: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "distances": list(self.distances)}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> IdentityHistory:
        if not raw:
            return cls()
        return cls(str(raw.get("session_id", NO_SESSION)),
                   tuple(float(d) for d in raw.get("distances", ())))


def threshold_for(face: FaceResult, verify_threshold: float, policy: IdentityPolicy) -> float:
    """The distance threshold this client's frames are judged with."""
    if policy.per_person and face.verify_threshold is not None:
        return face.verify_threshold
    return verify_threshold


@dataclass(frozen=True)
class IdentityJudgement:
    """The reason after the session's identity evidence, its scores and the new history."""

    reason: Reason
    scores: dict[str, float]
    history: IdentityHistory


def judge_identity(history: IdentityHistory, reason: Reason, face: FaceResult | None,
                   main: Face | None, verify_threshold: float, policy: IdentityPolicy
                   ) -> IdentityJudgement:
    """Replace a frame's identity verdict by the median of the session's recent distances.

    ``reason`` is the frame's own verdict; only identity frames (module docstring) change it
    or the history.
    """
    if face is None:
        return IdentityJudgement(reason, {}, history)
    if face.session_id != history.session_id:
        history = IdentityHistory(face.session_id)
    if (reason not in _IDENTITY_REASONS or main is None or main.distance is None
            or not face.enrolled):
        return IdentityJudgement(reason, {}, history)
    recent = (*history.distances, main.distance)[-max(1, policy.window):]
    median = statistics.median(recent)
    threshold = threshold_for(face, verify_threshold, policy)
    if median > threshold:
        judged = Reason.WRONG_USER
    elif policy.hold_mismatch and main.distance > threshold:
        judged = Reason.VERIFYING
    elif len(face.faces) > 1:
        judged = Reason.MULTIPLE_FACES
    else:
        judged = Reason.OK
    scores = {"identity_distance": median, "identity_frames": float(len(recent)),
              "frame_distance": main.distance, "verify_threshold": threshold}
    return IdentityJudgement(judged, scores, replace(history, distances=recent))
