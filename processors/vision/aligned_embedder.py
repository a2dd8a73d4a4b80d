"""Face embedders that need the face aligned first: ArcFace-family ONNX models at 112x112.

These models were trained on faces warped so that the five landmarks (both eyes, nose tip,
both mouth corners) land on fixed points of a 112x112 picture (InsightFace's ``arcface_dst``).
The detector gives the five landmarks (YuNet and MTCNN both, in the same order: the eye on the
picture's left first), so the embedder fits a similarity transform (rotation, uniform scale,
shift) from them to the template and warps the frame with it; no box crop is involved. A
face without landmarks cannot be embedded by these models: they say so instead of guessing.

Each model is one :class:`AlignedModel` (file, tensor layout, colour order, normalisation,
output) and one small subclass naming it; onnxruntime runs every face of a batch at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import FacePlugin
from processors.vision.imaging import Image
from processors.vision.onnx_session import onnx_session
from processors.vision.results import BoxXYXY, DetectedFace, Point, grouped
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

ALIGNED_SIZE = 112
# InsightFace's arcface_dst: where the five landmarks sit in a 112x112 training picture.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
Embedding = npt.NDArray[np.float32]


class MissingLandmarksError(ValueError):
    """An aligned embedder was given a face without its five landmarks."""


def align_face(frame_bgr: Image, landmarks: Sequence[Point],
               size: int = ALIGNED_SIZE) -> npt.NDArray[np.uint8]:
    """The size x size BGR face warped so its landmarks match the ArcFace template."""
    if len(landmarks) != 5:
        raise MissingLandmarksError(f"need 5 landmarks to align a face, got {len(landmarks)}")
    source = np.asarray(landmarks, dtype=np.float32)
    target = ARCFACE_TEMPLATE * (size / ALIGNED_SIZE)
    matrix, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on one point): nothing sensible to embed
        return np.zeros((size, size, 3), dtype=np.uint8)
    warped = cv2.warpAffine(frame_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
    return np.asarray(warped, dtype=np.uint8)


@dataclass(frozen=True)
class AlignedModel:
    """How one aligned-face ONNX model wants its input and gives its embedding."""

    weights: str  # file name in weights/manifest.toml
    layout: Literal["nchw", "nhwc"]
    rgb: bool
    mean: float  # input = (pixel - mean) / std
    std: float
    output: int = 0  # which of the model's outputs is the embedding


class AlignedEmbedder(FacePlugin[Embedding]):
    """Unit-length embeddings of aligned faces; same person means a small L2 distance."""

    model: ClassVar[AlignedModel]

    def load(self) -> None:
        """Open the verified ONNX file in an onnxruntime CPU session."""
        path = require_weight(self.settings, self.model.weights)
        self._session: Any = onnx_session(self.settings, path)
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[self.model.output].name
        # Some exports fix the batch size (mobilefacenet-128-arcface.onnx: 1): run in chunks.
        fixed = self._session.get_inputs()[0].shape[0]
        self._batch = fixed if isinstance(fixed, int) and fixed > 0 else None
        self.loaded = True
        log.info("loaded embedder plugin=%s weights=%s", self.name, path.name)

    def infer(self, frames: Sequence[Image], boxes: Sequence[Sequence[BoxXYXY]]
              ) -> list[list[Embedding]]:
        """Not possible from boxes alone: these models need landmarks (use infer_faces)."""
        raise MissingLandmarksError(f"embedder {self.name} aligns faces by their landmarks: "
                                    "call infer_faces with the detector's faces")

    def infer_faces(self, frames: Sequence[Image], faces: Sequence[Sequence[DetectedFace]]
                    ) -> list[list[Embedding]]:
        """Align and embed every face of every frame in one inference; grouped per frame."""
        self._require_loaded()
        aligned = [align_face(frame, face.landmarks)
                   for frame, frame_faces in zip(frames, faces, strict=True)
                   for face in frame_faces]
        flat = self.embed_aligned(aligned)
        return grouped(list(flat), faces)

    def embed_aligned(self, faces: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Unit embeddings (N x d) of aligned 112x112 BGR faces."""
        if not faces:
            dim = self._session.get_outputs()[self.model.output].shape[-1]
            return np.zeros((0, int(dim)), dtype=np.float32)
        batch = np.stack(faces).astype(np.float32)
        if self.model.rgb:
            batch = batch[..., ::-1]
        batch = (batch - np.float32(self.model.mean)) / np.float32(self.model.std)
        if self.model.layout == "nchw":
            batch = batch.transpose(0, 3, 1, 2)
        step = self._batch or len(batch)
        raw = [self._session.run([self._output],
                                 {self._input: np.ascontiguousarray(batch[i:i + step])})[0]
               for i in range(0, len(batch), step)]
        vectors = np.concatenate(raw).astype(np.float32).reshape(len(faces), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = vectors / np.maximum(norms, np.float32(1e-12))
        return result

    def _warm_up_once(self) -> None:
        frame = np.zeros((480, 640, 3), dtype=np.uint8)
        landmarks = ((280.0, 220.0), (360.0, 220.0), (320.0, 260.0), (290.0, 300.0),
                     (350.0, 300.0))
        face = DetectedFace((240.0, 140.0, 400.0, 340.0), 1.0, landmarks)
        self.infer_faces([frame], [[face]])
