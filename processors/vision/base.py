"""The small interface every vision plug-in implements: load, warm up, batched infer.

Two shapes of plug-in exist. A :class:`FramePlugin` looks at whole frames (face detector,
phone detector). A :class:`FacePlugin` looks at the faces already found in each frame
(embedder, liveness) and returns one value per face. Both take a batch of decoded BGR frames
and return one result per frame, in order.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

import numpy as np

from processors.vision.device import DeviceChoice
from processors.vision.imaging import Bounds, Image, content_bounds
from processors.vision.results import BoxXYXY, DetectedFace
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")
WARM_UP_SHAPE = (480, 640, 3)  # a webcam frame


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in runs of ``size`` (the last one shorter), as a plug-in's ``infer`` takes
    them."""
    return [items[start:start + size] for start in range(0, len(items), size)]


class VisionPlugin(ABC):
    """Base of every plug-in: holds settings and the device chosen at startup."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, device: DeviceChoice) -> None:
        self.settings = settings
        self.device = device
        self.loaded = False

    @abstractmethod
    def load(self) -> None:
        """Load the weights (verified) onto the device; raise naming anything missing."""

    @abstractmethod
    def _warm_up_once(self) -> None:
        """Run one representative inference so the first real batch is not slow."""

    def warm_up(self) -> float:
        """Run a warm-up inference; return the seconds it took (logged)."""
        start = time.perf_counter()
        self._warm_up_once()
        elapsed = time.perf_counter() - start
        log.info("warmed up plugin=%s device=%s seconds=%.3f", self.name, self.device.kind,
                 elapsed)
        return elapsed

    def _require_loaded(self) -> None:
        if not self.loaded:
            raise RuntimeError(f"plugin {self.name} used before load()")


class FramePlugin(VisionPlugin, Generic[R]):
    """A plug-in over whole frames: one result per frame."""

    @abstractmethod
    def infer(self, frames: Sequence[Image]) -> list[R]:
        """Run on a batch of BGR uint8 frames; one result per frame, in order."""

    def _warm_up_once(self) -> None:
        self.infer([np.zeros(WARM_UP_SHAPE, dtype=np.uint8)])


class FacePlugin(VisionPlugin, Generic[R]):
    """A plug-in over the faces of each frame: per frame, one value per given box."""

    @abstractmethod
    def infer(self, frames: Sequence[Image], boxes: Sequence[Sequence[BoxXYXY]]) -> list[list[R]]:
        """Run on every box of every frame as one batch; results grouped per frame."""

    def infer_faces(self, frames: Sequence[Image], faces: Sequence[Sequence[DetectedFace]]
                    ) -> list[list[R]]:
        """The same from the detector's faces: plug-ins that align by landmarks override it;
        the rest only need the boxes."""
        return self.infer(frames, [[face.box for face in frame_faces] for frame_faces in faces])

    def _warm_up_once(self) -> None:
        frame = np.zeros(WARM_UP_SHAPE, dtype=np.uint8)
        self.infer([frame], [[(240.0, 140.0, 400.0, 340.0)]])


class LivenessPlugin(FacePlugin[float]):
    """A real-face score in [0, 1] per face, from crops cut inside the frame's letterbox bars.

    The bars are found once per frame (:func:`content_bounds`) and handed down with it, so the
    models of an ensemble, and the quality gate beside them, share one search per frame.
    """

    def infer(self, frames: Sequence[Image], boxes: Sequence[Sequence[BoxXYXY]]
              ) -> list[list[float]]:
        """Score every box of every frame, the bars found here."""
        return self.score(frames, [content_bounds(frame) for frame in frames], boxes)

    @abstractmethod
    def score(self, frames: Sequence[Image], bounds: Sequence[Bounds],
              boxes: Sequence[Sequence[BoxXYXY]]) -> list[list[float]]:
        """Score every box of every frame; ``bounds`` are each frame's content bounds."""
