"""Liveness plug-in: MiniFASNetV2-SE trained on CelebA-Spoof, an ONNX file run by onnxruntime.

Preprocessing exactly as the weights README gives it (suriAI/face-antispoof-onnx): a square of
side 1.5 x max(w, h) centred on the face box, the parts outside the picture filled by
reflection (BORDER_REFLECT_101, not black), resized to 128 px (INTER_AREA when shrinking,
LANCZOS4 when enlarging), RGB, 0-1, no mean or std. Output: two logits, index 0 = real; the
real-face score is the softmax of index 0. Every face of a batch runs as one inference.

The crop is cut from the picture inside any letterbox bars (as MiniFASNet's is), so reflection
fills from the picture rather than from the black bars. Measured on the development set (MTCNN
boxes, webcam frames): the 40 attacks scored the same either way; of the 40 bona fide faces
three moved by more than 0.01 (paul_rudd 0.937 inside, 0.997 with the bars; two others
0.015 the other way), the lowest bona fide score was 0.799 inside and 0.785 with the bars.
So the bars matter little to this model; they are kept out as for MiniFASNet, for which they
matter a lot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import LivenessPlugin
from processors.vision.imaging import Bounds, Image
from processors.vision.liveness import FaceInFrame, faces_in_frames
from processors.vision.onnx_session import onnx_session
from processors.vision.results import BoxXYXY, per_frame
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

INPUT_SIZE = 128
CROP_SCALE = 1.5
REAL_CLASS = 0


def square_crop(face: FaceInFrame, size: int = INPUT_SIZE,
                scale: float = CROP_SCALE) -> npt.NDArray[np.uint8]:
    """The size x size BGR patch the model sees: a reflected-border square around the box,
    inside the frame's content bounds."""
    frame_bgr, (x0, y0, x1, y1), box = face
    picture = frame_bgr[y0:y1, x0:x1]
    side = max(round(scale * max(box[2] - box[0], box[3] - box[1])), 1)
    left = round((box[0] + box[2]) / 2 - x0 - side / 2)
    top = round((box[1] + box[3]) / 2 - y0 - side / 2)
    height, width = picture.shape[:2]
    pad_left, pad_top = max(0, -left), max(0, -top)
    pad_right, pad_bottom = max(0, left + side - width), max(0, top + side - height)
    padded = cv2.copyMakeBorder(picture, pad_top, pad_bottom, pad_left, pad_right,
                                cv2.BORDER_REFLECT_101)
    patch = padded[top + pad_top : top + pad_top + side, left + pad_left : left + pad_left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LANCZOS4
    return np.asarray(cv2.resize(patch, (size, size), interpolation=interpolation), np.uint8)


def real_probability(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Softmax probability of the real class for each row of N x 2 logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float32] = (exp[:, REAL_CLASS] / exp.sum(axis=1)).astype(np.float32)
    return result


class CelebaSpoofLiveness(LivenessPlugin):
    """Real-face score in [0, 1] per face; live when >= liveness_threshold."""

    name = "celebaspoof"
    # Whether faces must run one at a time (see the int8 variant).
    one_face_per_run = False

    def weights_file(self) -> str:
        """The ONNX file this variant loads (a setting)."""
        return self.settings.models.celebaspoof_weights

    def load(self) -> None:
        """Open the verified ONNX file in an onnxruntime CPU session."""
        path = require_weight(self.settings, self.weights_file())
        self._session: Any = onnx_session(self.settings, path)
        self._input = self._session.get_inputs()[0].name
        self.loaded = True
        log.info("loaded liveness weights=%s", path.name)

    def score(self, frames: Sequence[Image], bounds: Sequence[Bounds],
              boxes: Sequence[Sequence[BoxXYXY]]) -> list[list[float]]:
        """Score every box of every frame in one inference; grouped back per frame."""
        self._require_loaded()
        patches = [square_crop(face) for face in faces_in_frames(frames, bounds, boxes)]
        scores = self.score_patches(patches)
        return per_frame(list(scores), boxes)

    def score_patches(self, patches: Sequence[npt.NDArray[np.uint8]]
                      ) -> npt.NDArray[np.float32]:
        """Real-face probability of each 128x128 BGR patch."""
        if not patches:
            return np.zeros(0, dtype=np.float32)
        rgb = np.stack(patches)[..., ::-1].transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray(rgb, dtype=np.float32) / np.float32(255.0)
        runs = [batch[i : i + 1] for i in range(len(batch))] if self.one_face_per_run else [batch]
        logits = np.concatenate([self._logits(run) for run in runs])
        return real_probability(np.asarray(logits, dtype=np.float32))

    def _logits(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """N x 2 logits of an N x 3 x 128 x 128 batch (the runtime's part)."""
        logits: npt.NDArray[np.float32] = self._session.run(None, {self._input: batch})[0]
        return logits


class CelebaSpoofInt8Liveness(CelebaSpoofLiveness):
    """The same model quantized to int8 (the authors report the same accuracy).

    The file is dynamically quantized (57 DynamicQuantizeLinear nodes): each activation's
    scale is computed over the whole input tensor, so in a batch one face's score would
    depend on the other faces (measured: image_F2 scored 0.0025 in a batch of three webcam
    frames, 0.0010 alone). A client's verdict must not depend on who else is in the batch,
    so this variant runs faces one at a time.
    """

    name = "celebaspoof_int8"
    one_face_per_run = True

    def weights_file(self) -> str:
        return self.settings.models.celebaspoof_int8_weights
