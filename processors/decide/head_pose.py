"""Head pose from the five face landmarks, and what a flat picture cannot fake.

The face processor gives five landmarks per face, in the picture's order: the eye on the
picture's left, the other eye, the nose, the mouth corner on the picture's left, the other
corner (processors/vision/yunet.py; MTCNN's order). Two measures come from them:

- **nose position** ``(u, v)``: the nose in the frame of the other four points, through the
  projective map (a homography) that sends the eyes and mouth corners to the corners of a
  unit square. Frontal, ``u`` is about 0.5; the nose, standing out of the face, moves towards
  the side the head turns to, so ``u`` grows when the person turns to *their* left (the
  picture's right: the camera sees them face-on) and shrinks when they turn to their right.
- **aspect**: eye distance over the eye-to-mouth height; it falls as the face is seen more
  from the side, whether a head turns or a picture of a face is turned.

Why this separates a head from a picture: five points on a plane keep their projective
coordinates under *every* homography, and every view of a flat picture (a print or a screen
turned, tilted, slid, seen in perspective) is a homography of it. So a photo turned to the
side changes the aspect but not ``(u, v)``, up to the detector's noise; a head turned as far
moves ``u`` by a fifth of the square or more (docs/challenges.md has the measurements).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Landmarks = Sequence[tuple[float, float]]
_SQUARE = np.array([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])


class DegenerateLandmarks(ValueError):
    """Landmarks from which no pose can be measured (missing, or three in a line)."""


@dataclass(frozen=True)
class HeadPose:
    """What one frame's landmarks say about the head: see the module docstring."""

    u: float  # nose across the eye-mouth square: 0.5 frontal, up when turned to its left
    v: float  # nose down the square
    aspect: float  # eye distance over eye-to-mouth height

    def to_json(self) -> dict[str, float]:
        return {"u": self.u, "v": self.v, "aspect": self.aspect}

    @classmethod
    def from_json(cls, raw: dict[str, float]) -> HeadPose:
        return cls(float(raw["u"]), float(raw["v"]), float(raw["aspect"]))


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map sending 4 points ``src`` to ``dst`` (direct linear solve)."""
    rows, rhs = [], []
    for (x, y), (X, Y) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -X * x, -X * y])
        rows.append([0, 0, 0, x, y, 1, -Y * x, -Y * y])
        rhs += [X, Y]
    a = np.array(rows, dtype=np.float64)
    if abs(np.linalg.det(a)) < 1e-12:
        raise DegenerateLandmarks("three of the eye and mouth points lie in a line")
    h = np.linalg.solve(a, np.array(rhs, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def head_pose(landmarks: Landmarks) -> HeadPose:
    """The pose measures of one face; DegenerateLandmarks when they cannot be had."""
    if len(landmarks) != 5:
        raise DegenerateLandmarks(f"expected 5 landmarks, got {len(landmarks)}")
    pts = np.asarray(landmarks, dtype=np.float64)
    eye_a, eye_b, nose, mouth_a, mouth_b = pts
    quad = np.stack([eye_a, eye_b, mouth_a, mouth_b])
    h = _homography(quad, _SQUARE)
    x, y, w = h @ np.array([nose[0], nose[1], 1.0])
    if abs(w) < 1e-9:
        raise DegenerateLandmarks("the nose maps to infinity")
    eye_span = float(np.linalg.norm(eye_b - eye_a))
    height = float(np.linalg.norm((mouth_a + mouth_b) / 2 - (eye_a + eye_b) / 2))
    if eye_span < 1e-6 or height < 1e-6:
        raise DegenerateLandmarks("eyes or mouth collapsed to a point")
    return HeadPose(float(x / w), float(y / w), eye_span / height)


def try_head_pose(landmarks: Landmarks) -> HeadPose | None:
    """:func:`head_pose`, or None when the landmarks give none (a profile, a bad detection)."""
    try:
        return head_pose(landmarks)
    except DegenerateLandmarks:
        return None
