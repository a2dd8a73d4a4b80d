"""The face verdict: is the main face live, is it the enrolled user.

Computed in one place for both stages that need it: the face processor sets ``live`` and
``match`` on each FaceResult with the settings' thresholds, and the decide policy recomputes
them from the same scores with the policy file's thresholds (which may differ and reload).
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import Face


def main_face(faces: Sequence[Face]) -> Face | None:
    """The largest face by box area (the person at the keyboard), or None."""
    if not faces:
        return None
    return max(faces, key=lambda f: (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1))


def is_live(main: Face | None, threshold: float, unscored: bool = False) -> bool:
    """Whether the main face's liveness reaches ``threshold``; ``unscored`` when it has no
    score (no face is never live)."""
    if main is None:
        return False
    if main.liveness is None:
        return unscored
    return main.liveness >= threshold


def is_match(main: Face | None, threshold: float, unscored: bool = False) -> bool:
    """Whether the main face's distance to the enrolled faces is within ``threshold``;
    ``unscored`` when no distance was computed (no face never matches)."""
    if main is None:
        return False
    if main.distance is None:
        return unscored
    return main.distance <= threshold
