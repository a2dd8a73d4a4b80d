"""Face detector plug-in: YuNet (OpenCV Zoo, 2023mar) through ``cv2.FaceDetectorYN``.

``FaceDetectorYN`` takes one picture per call, so frames run one at a time (about 7 ms a
640x480 frame on 2 CPU threads; batching the ONNX would mean re-implementing its decoding).
YuNet was trained on WIDER Face at about 640 px: on a 2048x1638 photo it missed a face 1000 px
wide and scored another 0.65 at full size, while the same photos shrunk to 640 px on their
longer side gave every face at 0.93-0.95 (../shared/testdata/faces). Larger frames are
therefore shrunk to ``yunet_max_side`` (default 640) before detection and the boxes scaled
back.

Landmarks come in MTCNN's order (the eye on the picture's left first, then the other eye, the
nose, and the mouth corners left then right), so every consumer reads them the same way.
Faces are kept by the same rule as MTCNN's (``face_detect_threshold``, and ``face_min_size``
with MTCNN's tolerance), so the two detectors keep the same faces.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from processors.vision.base import FramePlugin
from processors.vision.imaging import Image
from processors.vision.results import MIN_SIZE_TOLERANCE, DetectedFace, FaceDetections
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

NMS_THRESHOLD = 0.3  # OpenCV Zoo's demo value
TOP_K = 5000


class YuNetFaceDetector(FramePlugin[FaceDetections]):
    """Every face of every frame: box, score and 5 landmarks, largest first."""

    name = "yunet"

    def load(self) -> None:
        """Create the detector from the verified ONNX file."""
        path = require_weight(self.settings, self.settings.models.yunet_weights)
        self._max_side = self.settings.models.yunet_max_side
        self._detector: Any = cv2.FaceDetectorYN.create(
            str(path), "", (self._max_side, self._max_side),
            self.settings.models.face_detect_threshold, NMS_THRESHOLD, TOP_K)
        self._input_size = (self._max_side, self._max_side)
        self.loaded = True
        log.info("loaded face detector weights=%s", path.name)

    def infer(self, frames: Sequence[Image]) -> list[FaceDetections]:
        """Detect faces in each frame; frames too small to search give an empty result."""
        self._require_loaded()
        return [self._detect(frame) if min(frame.shape[:2]) >= self.settings.models.face_min_size
                else FaceDetections() for frame in frames]

    def _detect(self, frame: Image) -> FaceDetections:
        scale = min(1.0, self._max_side / max(frame.shape[:2]))
        picture = frame if scale == 1.0 else np.asarray(cv2.resize(
            frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        rows = self._rows(picture)
        if rows is None:
            return FaceDetections()
        faces = [self._to_face(np.asarray(row, dtype=np.float64) / scale, float(row[14]))
                 for row in rows]
        min_size = self.settings.models.face_min_size * MIN_SIZE_TOLERANCE
        kept = [f for f in faces
                if f.score >= self.settings.models.face_detect_threshold and f.size >= min_size]
        kept.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return FaceDetections(tuple(kept))

    def _rows(self, picture: Image) -> np.ndarray | None:
        """YuNet's rows for one picture: x, y, w, h, five landmarks (x, y), score."""
        size = (picture.shape[1], picture.shape[0])
        if size != self._input_size:
            self._detector.setInputSize(size)
            self._input_size = size
        _, rows = self._detector.detect(picture)
        return None if rows is None else np.asarray(rows)

    @staticmethod
    def _to_face(row: np.ndarray, score: float) -> DetectedFace:
        x, y, w, h = (float(v) for v in row[:4])
        points = row[4:14].reshape(5, 2)
        # YuNet names the person's right eye first, which is the picture's left: the same
        # order as MTCNN's. Sort each pair by x anyway, so a tilted head cannot swap them.
        eyes = sorted(points[0:2].tolist())
        mouth = sorted(points[3:5].tolist())
        ordered = [*eyes, points[2].tolist(), *mouth]
        return DetectedFace(box=(x, y, x + w, y + h), score=score,
                            landmarks=tuple((float(px), float(py)) for px, py in ordered))
