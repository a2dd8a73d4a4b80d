"""Liveness plug-in: MiniFASNetV2 (box scale 2.7) and MiniFASNetV1SE (box scale 4.0).

As upstream's predictor (minivision-ai/Silent-Face-Anti-Spoofing, test.py): each model sees
the face box scaled about its centre by the scale in its file name (``CropImage._get_new_box``:
capped so it fits, shifted back inside the frame), cut and resized to 80x80, BGR, float
0-255. The softmax outputs of the models are averaged; class 1 is "real". The real-face score
is that averaged probability, in [0, 1].
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import LivenessPlugin
from processors.vision.imaging import Bounds, Image
from processors.vision.results import BoxXYXY, per_frame
from vigil.core.weights import require_weight

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

INPUT_SIZE = (80, 80)  # height, width
REAL_CLASS = 1

FaceInFrame = tuple[Image, Bounds, BoxXYXY]
"""A face to score: its frame, the frame's content bounds, its box."""


@dataclass(frozen=True)
class ModelName:
    """What upstream's parse_model_name reads from a weight file name."""

    scale: float
    height: int
    width: int
    model_type: str


def parse_model_name(file_name: str) -> ModelName:
    """``2.7_80x80_MiniFASNetV2.pth`` -> scale 2.7, 80x80, MiniFASNetV2 (upstream rules)."""
    parts = file_name.split("_")[:-1]
    height, width = parts[-1].split("x")
    model_type = file_name.split(".pth")[0].split("_")[-1]
    return ModelName(float(parts[0]), int(height), int(width), model_type)


def load_minifasnet(path: Path) -> nn.Module:
    """The MiniFASNet its file name describes, in eval mode, weights loaded with strict=True."""
    import torch

    from processors.vision import minifasnet

    spec = parse_model_name(path.name)
    model = minifasnet.build(spec.model_type, minifasnet.conv6_kernel(spec.height, spec.width))
    state = torch.load(path, map_location="cpu", weights_only=True)
    # Upstream saved some models from DataParallel: drop its "module." prefix.
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def crop_box(src_w: int, src_h: int, box: BoxXYXY, scale: float) -> tuple[int, int, int, int]:
    """Upstream CropImage._get_new_box for an (x1, y1, x2, y2) detector box."""
    x, y = int(box[0]), int(box[1])
    box_w, box_h = max(int(box[2] - box[0] + 1), 1), max(int(box[3] - box[1] + 1), 1)
    scale = min((src_h - 1) / box_h, min((src_w - 1) / box_w, scale))
    new_w, new_h = box_w * scale, box_h * scale
    center_x, center_y = box_w / 2 + x, box_h / 2 + y
    left, top = center_x - new_w / 2, center_y - new_h / 2
    right, bottom = center_x + new_w / 2, center_y + new_h / 2
    if left < 0:
        right -= left
        left = 0
    if top < 0:
        bottom -= top
        top = 0
    if right > src_w - 1:
        left -= right - src_w + 1
        right = src_w - 1
    if bottom > src_h - 1:
        top -= bottom - src_h + 1
        bottom = src_h - 1
    return int(left), int(top), int(right), int(bottom)


def liveness_crop(face: FaceInFrame, scale: float) -> npt.NDArray[np.uint8]:
    """The 80x80 BGR patch one MiniFASNet model sees (upstream CropImage.crop).

    The crop stays inside the picture (the frame's content bounds): letterbox bars around a
    frame (a portrait photo on a 4:3 canvas) would otherwise enter the 2.7x and 4x crops, and
    black borders there look like a screen's bezel to the model. Measured on ../shared/testdata
    letterboxed to 640x480 at JPEG q60: obama_2 scored 0.003 with the bars and 0.989 without
    (0.992 unboxed).
    """
    frame_bgr, (x0, y0, x1, y1), box = face
    picture = frame_bgr[y0:y1, x0:x1]
    box = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    src_h, src_w = picture.shape[:2]
    left, top, right, bottom = crop_box(src_w, src_h, box, scale)
    patch = picture[max(top, 0) : bottom + 1, max(left, 0) : right + 1]
    if patch.size == 0:
        return np.zeros((*INPUT_SIZE, 3), dtype=np.uint8)
    resized = cv2.resize(patch, (INPUT_SIZE[1], INPUT_SIZE[0]))
    return np.asarray(resized, dtype=np.uint8)


def faces_in_frames(frames: Sequence[Image], bounds: Sequence[Bounds],
                    boxes: Sequence[Sequence[BoxXYXY]]) -> list[FaceInFrame]:
    """Every box of every frame with its frame and the frame's bounds, in order."""
    return [(frame, frame_bounds, box)
            for frame, frame_bounds, frame_boxes in zip(frames, bounds, boxes, strict=True)
            for box in frame_boxes]


class MiniFasNetLiveness(LivenessPlugin):
    """Real-face score in [0, 1] per face; live when >= liveness_threshold."""

    name = "minifasnet"

    def load(self) -> None:
        """Build each configured MiniFASNet and load its verified weights with strict=True."""
        self._models: list[tuple[float, nn.Module]] = []
        for file_name in self.settings.models.liveness_weights:
            path = require_weight(self.settings, file_name)
            spec = parse_model_name(file_name)
            model = load_minifasnet(path).to(self.device.torch_device)
            self._models.append((spec.scale, model.half() if self.device.half else model))
            log.info("loaded liveness weights=%s scale=%.1f", file_name, spec.scale)
        self.loaded = True

    def score(self, frames: Sequence[Image], bounds: Sequence[Bounds],
              boxes: Sequence[Sequence[BoxXYXY]]) -> list[list[float]]:
        """Score every box of every frame; each model runs once over all faces of the batch."""
        self._require_loaded()
        scores = self.score_faces(faces_in_frames(frames, bounds, boxes))
        return per_frame(list(scores), boxes)

    def score_faces(self, faces: Sequence[FaceInFrame]) -> npt.NDArray[np.float32]:
        """Averaged real-class probability for each face."""
        if not faces:
            return np.zeros(0, dtype=np.float32)
        import torch

        total = torch.zeros(len(faces))
        for scale, model in self._models:
            patches = np.stack([liveness_crop(face, scale) for face in faces])
            # Float 0-255, not divided by 255: upstream's ToTensor keeps the raw range.
            batch = torch.from_numpy(patches).permute(0, 3, 1, 2)
            batch = batch.to(self.device.torch_device, self.device.dtype)
            with torch.inference_mode():
                probs = torch.softmax(model(batch).float(), dim=1)
            total += probs[:, REAL_CLASS].cpu()
        result: npt.NDArray[np.float32] = (total / len(self._models)).numpy()
        return result
