"""Typed per-frame results of the vision plug-ins (never positional tuples).

Boxes are (x1, y1, x2, y2) in the pixels of the frame they came from.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from processors.vision.quality import FaceMeasure

BoxXYXY = tuple[float, float, float, float]
# A face detector keeps faces down to this share of face_min_size: MTCNN's box regression can
# leave a face found at its smallest pyramid scale a little under min_face_size (boxes well
# under it are background faces the pyramid caught anyway). YuNet keeps faces by the same rule.
MIN_SIZE_TOLERANCE = 0.8
Point = tuple[float, float]


@dataclass(frozen=True)
class DetectedFace:
    """One face from the detector: box, probability and 5 landmarks (eyes, nose, mouth)."""

    box: BoxXYXY
    score: float
    landmarks: tuple[Point, ...]

    @property
    def size(self) -> float:
        """The shorter side of the box in pixels."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class FaceDetections:
    """The detector's result for one frame, faces largest first."""

    faces: tuple[DetectedFace, ...] = ()


# COCO classes the phone detectors report: phones, and screens a face may be replayed on.
PHONE_LABEL = "cell phone"
REPORTED_CLASSES = {67: PHONE_LABEL, 62: "tv", 63: "laptop"}


@dataclass(frozen=True)
class PhoneBox:
    """One COCO "cell phone" (class 67) detection, or a screen (tv 62, laptop 63)."""

    box: BoxXYXY
    confidence: float
    label: str = PHONE_LABEL

    @property
    def is_phone(self) -> bool:
        """A phone, not a screen."""
        return self.label == PHONE_LABEL


@dataclass(frozen=True)
class PhoneDetections:
    """The phone detector's result for one frame; ``phone`` is any phone box (not a screen)
    over phone_threshold."""

    phones: tuple[PhoneBox, ...] = ()
    phone: bool = False


@dataclass(frozen=True)
class AnalyzedFace:
    """A face after the whole chain: detection, 512-d unit embedding and real-face score."""

    box: BoxXYXY
    score: float
    landmarks: tuple[Point, ...]
    embedding: npt.NDArray[np.float32]
    liveness: float
    live: bool
    quality: FaceMeasure | None = None  # measured by the chain, for the quality gate


@dataclass(frozen=True)
class FrameFaces:
    """The face chain's result for one frame; ``error`` set when the frame was unusable."""

    faces: tuple[AnalyzedFace, ...] = field(default_factory=tuple)
    error: str | None = None


T = TypeVar("T")


def grouped(items: Sequence[T], frames: Sequence[Sized]) -> list[list[T]]:
    """Results of all faces of a batch, in order, grouped back per frame (as ``frames``, each
    frame's faces or boxes, is)."""
    out: list[list[T]] = []
    start = 0
    for frame in frames:
        out.append(list(items[start : start + len(frame)]))
        start += len(frame)
    return out


def per_frame(scores: Sequence[float], boxes: Sequence[Sequence[BoxXYXY]]) -> list[list[float]]:
    """Scores of all faces of a batch as plain floats, grouped back per frame."""
    return grouped([float(s) for s in scores], boxes)
