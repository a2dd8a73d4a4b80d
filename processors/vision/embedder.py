"""Face embedder plug-in: facenet-pytorch InceptionResnetV1 with the CASIA-WebFace weights.

The state_dict comes from the verified weights folder and loads with ``strict=True`` and
``weights_only=True`` (no pickled code runs). Crops follow facenet-pytorch's
``extract_face``: the box grown by a margin of 20 px (in 160 px crop units), cut from the RGB
frame, resized to 160x160 with INTER_AREA, then ``fixed_image_standardization``
((x - 127.5) / 128). Every face of a batch goes through the network in one forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import FacePlugin
from processors.vision.imaging import Image
from processors.vision.results import BoxXYXY, grouped
from vigil.core.embeddings import EMBEDDING_DIM
from vigil.core.weights import require_weight

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

CROP_SIZE = 160
CROP_MARGIN = 20
Embedding = npt.NDArray[np.float32]


def load_facenet(path: Path) -> nn.Module:
    """InceptionResnetV1 in eval mode from a verified CASIA-WebFace state_dict (strict)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = InceptionResnetV1(pretrained=None, classify=False)
    model.load_state_dict(state, strict=True)
    return model.eval()


def facenet_crop(frame_bgr: Image, box: BoxXYXY, size: int = CROP_SIZE,
                 margin: int = CROP_MARGIN) -> npt.NDArray[np.uint8]:
    """The RGB face crop facenet-pytorch's extract_face makes from an MTCNN box."""
    height, width = frame_bgr.shape[:2]
    grow_x = margin * (box[2] - box[0]) / (size - margin)
    grow_y = margin * (box[3] - box[1]) / (size - margin)
    x1 = int(max(box[0] - grow_x / 2, 0))
    y1 = int(max(box[1] - grow_y / 2, 0))
    x2 = int(min(box[2] + grow_x / 2, width))
    y2 = int(min(box[3] + grow_y / 2, height))
    if x2 <= x1 or y2 <= y1:  # a degenerate box: nothing to embed, give a blank crop
        return np.zeros((size, size, 3), dtype=np.uint8)
    crop = cv2.resize(frame_bgr[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop[:, :, ::-1])  # BGR -> RGB, as the weights were trained


def preprocess(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """N x 160 x 160 RGB uint8 crops as the network's input: N x 3 x 160 x 160 float32,
    ``fixed_image_standardization``."""
    batch: npt.NDArray[np.float32] = (
        crops.transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 128.0
    return batch


class FaceNetEmbedder(FacePlugin[Embedding]):
    """512-d L2-normalised embeddings; same person means a small L2 distance."""

    name = "facenet"

    def load(self) -> None:
        """Load InceptionResnetV1 from the verified CASIA-WebFace state_dict."""
        path = require_weight(self.settings, self.settings.models.embedder_weights)
        model = load_facenet(path).to(self.device.torch_device)
        self._model = model.half() if self.device.half else model
        self.loaded = True
        log.info("loaded embedder weights=%s", path.name)

    def infer(self, frames: Sequence[Image], boxes: Sequence[Sequence[BoxXYXY]]
              ) -> list[list[Embedding]]:
        """Embed every box of every frame in one forward pass; grouped back per frame."""
        self._require_loaded()
        crops = [facenet_crop(frame, box) for frame, frame_boxes in zip(frames, boxes, strict=True)
                 for box in frame_boxes]
        flat = self.embed_crops(crops)
        return grouped(list(flat), boxes)

    def embed_crops(self, crops: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Embeddings (N x 512, unit length) of 160x160 RGB uint8 crops."""
        if not crops:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        import torch

        batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)
        batch = (batch.to(self.device.torch_device, self.device.dtype) - 127.5) / 128.0
        with torch.inference_mode():
            embeddings = self._model(batch).float()
        # The network already normalises; normalise again in fp32 so fp16 rounding on CUDA
        # cannot leave vectors slightly off unit length.
        embeddings = torch.nn.functional.normalize(embeddings, dim=1)
        result: npt.NDArray[np.float32] = embeddings.cpu().numpy().astype(np.float32)
        return result
