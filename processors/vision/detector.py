"""Face detector plug-in: facenet-pytorch MTCNN (its weights ship inside the wheel).

Frames of the same size are stacked and detected in one MTCNN call (its image pyramid and
first stage then run once for the whole group). Faces under ``face_min_size`` or below
``face_detect_threshold`` are dropped: a webcam face is large and confident, while MTCNN's
defaults also report tiny background "faces" at p 0.80-0.85.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from processors.vision.base import FramePlugin
from processors.vision.imaging import Image
from processors.vision.results import MIN_SIZE_TOLERANCE, DetectedFace, FaceDetections

log = logging.getLogger(__name__)

# MTCNN's own per-stage thresholds (P-, R-, O-net), the upstream defaults; the final
# probability filter is face_detect_threshold from settings.
STAGE_THRESHOLDS = [0.6, 0.7, 0.7]
# Same-size frames are stacked at most this many at a time: on CPU a stack of 32 640x480
# frames was slower per frame than stacks of 8 (the pyramid tensors outgrow the caches).
STACK_LIMIT = 8


class MtcnnFaceDetector(FramePlugin[FaceDetections]):
    """Every face of every frame: box, probability and 5 landmarks, largest first."""

    name = "mtcnn"

    def load(self) -> None:
        """Build MTCNN from the weights in the facenet-pytorch wheel."""
        from facenet_pytorch import MTCNN

        # MTCNN stays fp32 even on CUDA: its NMS and box regression lose accuracy in fp16,
        # and it is the cheapest of the models.
        self._mtcnn = MTCNN(
            min_face_size=self.settings.models.face_min_size,
            thresholds=STAGE_THRESHOLDS,
            keep_all=True,
            select_largest=True,
            device=torch.device(self.device.torch_device),
        ).eval()
        self.loaded = True

    def infer(self, frames: Sequence[Image]) -> list[FaceDetections]:
        """Detect faces in each frame; frames too small to search give an empty result."""
        self._require_loaded()
        results: list[FaceDetections] = [FaceDetections() for _ in frames]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, frame in enumerate(frames):
            if min(frame.shape[:2]) >= self.settings.models.face_min_size:
                groups[frame.shape].append(index)
        chunks = [group[i : i + STACK_LIMIT] for group in groups.values()
                  for i in range(0, len(group), STACK_LIMIT)]
        for indices in chunks:
            # MTCNN wants RGB; the stack makes one 4-D batch of equal-size frames.
            batch = np.stack([cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB) for i in indices])
            with torch.inference_mode():
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            for i, box, prob, point in zip(indices, boxes, probs, points, strict=True):
                results[i] = self._to_result(box, prob, point)
        return results

    def _to_result(self, boxes: Any, probs: Any, points: Any) -> FaceDetections:
        if boxes is None:
            return FaceDetections()
        # With numpy 2 MTCNN hands back object arrays; make them float before arithmetic.
        box_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        prob_arr = np.asarray(probs, dtype=np.float64).reshape(-1)
        point_arr = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
        faces = []
        for box, prob, point in zip(box_arr, prob_arr, point_arr, strict=True):
            face = DetectedFace(
                box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                score=float(prob),
                landmarks=tuple((float(x), float(y)) for x, y in point),
            )
            min_size = self.settings.models.face_min_size * MIN_SIZE_TOLERANCE
            if face.score >= self.settings.models.face_detect_threshold and face.size >= min_size:
                faces.append(face)
        return FaceDetections(tuple(faces))
