"""How usable a face is: its size, sharpness, light, how far it is turned away, and how much
of the picture it fills.

Pure functions of the picture, the detector's box and its 5 landmarks (MTCNN's order: the eye
on the picture's left, the other eye, the nose, the mouth corners), so the enrollment command,
the face processor (:func:`measure`, the quality gate before liveness) and the tests measure
the same thing. The thresholds live where they are used: the enrollment settings, and the
decide policy's ``quality:`` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from processors.vision.imaging import Bounds, Image, content_bounds
from processors.vision.results import BoxXYXY, Point

SHARPNESS_SIZE = 160  # the face is measured at the embedder's crop size, whatever its pixels
CLIPPED_LEVEL = 250  # a grey level this high is taken as burnt out (over-exposed)


@dataclass(frozen=True)
class FaceMeasure:
    """What the quality gate looks at for one face (schemas.events.FaceQuality carries it)."""

    brightness: float  # mean grey level of the face box, 0-255
    sharpness: float  # :func:`sharpness`
    overexposed: float  # share of the face box's pixels at CLIPPED_LEVEL or more
    side: float  # :func:`face_side`
    fill: float  # :func:`face_fill`


def _face_grey(picture: Image, box: BoxXYXY) -> np.ndarray | None:
    """The face box of the picture in grey levels, or None when the box is empty."""
    height, width = picture.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1:
        return None
    return np.asarray(cv2.cvtColor(picture[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY))


def face_side(box: BoxXYXY) -> float:
    """The shorter side of the face box, in the picture's pixels."""
    return min(box[2] - box[0], box[3] - box[1])


def face_fill(box: BoxXYXY, bounds: Bounds) -> float:
    """How much of the picture's width or height the face box spans, the larger of the two
    (1: edge to edge; over 1: the box runs past the picture's edges).

    The picture is what lies inside letterbox bars (``bounds``: :func:`content_bounds`), as
    the liveness crops see it: they want the face with context around it (2.7 and 4 times the
    box for MiniFASNet, 1.5 for CelebA-Spoof), and at a fill of 1/scale or more the widest crop
    the picture holds is narrower than the model was trained on; at about 1 there is no
    context.
    """
    x0, y0, x1, y1 = bounds
    return max((box[2] - box[0]) / max(1, x1 - x0), (box[3] - box[1]) / max(1, y1 - y0), 0.0)


def sharpness(picture: Image, box: BoxXYXY) -> float:
    """Variance of the Laplacian of the face, grey, resized to 160x160 (higher = sharper).

    Resizing first makes the figure independent of how many pixels the face has: a sharp
    small face and a sharp large face score alike, a blurred one of either size low.
    """
    grey = _face_grey(picture, box)
    if grey is None:
        return 0.0
    face = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def yaw_ratio(landmarks: Sequence[Point]) -> float:
    """How far the nose sits from the middle of the eyes, in eye distances (0: facing the
    camera; about +-0.5 and beyond: turned to a profile). The sign says which way."""
    if len(landmarks) < 3:
        raise ValueError(f"5 landmarks expected, got {len(landmarks)}")
    (left_x, _), (right_x, _), (nose_x, _) = landmarks[0], landmarks[1], landmarks[2]
    eye_distance = abs(right_x - left_x)
    if eye_distance < 1e-6:
        return float("inf")
    return (nose_x - (left_x + right_x) / 2) / eye_distance


def measure(picture: Image, box: BoxXYXY, bounds: Bounds | None = None) -> FaceMeasure:
    """Brightness, sharpness, over-exposure, size and fill of one face (about a millisecond);
    ``bounds``: the picture's content bounds when already found."""
    grey = _face_grey(picture, box)
    bounds = content_bounds(picture) if bounds is None else bounds
    side, fill = max(0.0, face_side(box)), face_fill(box, bounds)
    if grey is None:
        return FaceMeasure(0.0, 0.0, 0.0, side, fill)
    return FaceMeasure(float(grey.mean()), sharpness(picture, box),
                       float(np.count_nonzero(grey >= CLIPPED_LEVEL)) / grey.size, side, fill)
