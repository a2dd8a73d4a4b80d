"""Phone detector plug-in: Ultralytics YOLO11n int8 as an OpenVINO IR, run by plain OpenVINO.

No Ultralytics at run time: this module letterboxes each frame as Ultralytics does (scale to
fit ``phone_input_size``, pad with grey 114 to a square, RGB, 0-1), runs the IR compiled for
the CPU, reads COCO class 67 ("cell phone") from the raw ``[N, 84, anchors]`` output (box
centre, size, then 80 class scores that are already sigmoids), keeps boxes down to the report
floor, removes overlaps with NMS (IoU 0.7, Ultralytics' default) and maps the boxes back to
the frame's pixels.

The IR was exported with a static 1x3x640x640 input, and it stays that way: measured with
openvino 2026.4, ``model.reshape`` to any other size (480, 512, 736, 800, 960) or to a batch of
8, static or dynamic, fails on the attention block (C2PSA), whose Reshape carries the constant
shape [1, 2, 128, 400]. So the input size is read from the IR and frames run one at a time
(8.7 ms a frame on 2 CPU threads, so there is little to gain from batching on the CPU).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import FramePlugin
from processors.vision.imaging import Image
from processors.vision.results import PhoneBox, PhoneDetections
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

PHONE_CLASS = 67
CLASS_OFFSET = 4  # rows 0-3 are cx, cy, w, h; class scores follow
REPORT_FLOOR = 0.1  # boxes down to this are reported; ``phone`` needs phone_threshold
NMS_IOU = 0.7
PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square input: scale, then left/top padding."""

    scale: float
    left: int
    top: int


def letterbox_square(frame: Image, size: int) -> tuple[Image, Letterbox]:
    """Ultralytics' LetterBox(auto=False): fit into size x size, centred, grey padding."""
    height, width = frame.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = round(width * scale), round(height * scale)
    pad_w, pad_h = (size - new_w) / 2, (size - new_h) / 2
    resized = frame if (new_w, new_h) == (width, height) else cv2.resize(
        frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    padded = cv2.copyMakeBorder(resized, top, size - new_h - top, left, size - new_w - left,
                                cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return np.asarray(padded, dtype=np.uint8), Letterbox(scale, left, top)


def to_input(squares: Sequence[Image]) -> npt.NDArray[np.float32]:
    """N x 3 x S x S float32 RGB in 0-1 from BGR uint8 squares."""
    batch = np.stack(squares)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255.0)


def decode_phones(raw: npt.NDArray[np.float32], place: Letterbox, frame_shape: tuple[int, ...],
                  floor: float) -> list[PhoneBox]:
    """Phone boxes of one image from its ``[84, anchors]`` output, NMS applied, in frame pixels."""
    scores = raw[CLASS_OFFSET + PHONE_CLASS]
    keep = np.flatnonzero(scores >= floor)
    if keep.size == 0:
        return []
    cx, cy, w, h = raw[0, keep], raw[1, keep], raw[2, keep], raw[3, keep]
    xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), floor, NMS_IOU)
    height, width = frame_shape[:2]
    phones = []
    for i in np.asarray(chosen, dtype=np.int64).reshape(-1):
        x, y, bw, bh = xywh[i]
        x1 = float(np.clip((x - place.left) / place.scale, 0, width))
        y1 = float(np.clip((y - place.top) / place.scale, 0, height))
        x2 = float(np.clip((x + bw - place.left) / place.scale, 0, width))
        y2 = float(np.clip((y + bh - place.top) / place.scale, 0, height))
        if x2 > x1 and y2 > y1:
            phones.append(PhoneBox((x1, y1, x2, y2), float(scores[keep][i])))
    return sorted(phones, key=lambda p: -p.confidence)


class OpenVinoPhoneDetector(FramePlugin[PhoneDetections]):
    """Phones in each frame with boxes and confidences (YOLO11n int8, OpenVINO on the CPU)."""

    name = "yolo_openvino"

    def load(self) -> None:
        """Read the verified IR (and its .bin) and compile it for the CPU."""
        import openvino as ov

        xml = require_weight(self.settings, self.settings.phone_openvino_model)
        require_weight(self.settings, self.settings.phone_openvino_model.removesuffix(".xml")
                       + ".bin")
        core = ov.Core()
        model = core.read_model(str(xml))
        self._size = int(model.inputs[0].get_shape()[2])  # static N x 3 x S x S
        config: dict[str, Any] = {}
        if self.settings.torch_threads:
            config["INFERENCE_NUM_THREADS"] = self.settings.torch_threads
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.loaded = True
        log.info("loaded phone detector weights=%s input=%dx%d", xml.name, self._size,
                 self._size)

    def infer(self, frames: Sequence[Image]) -> list[PhoneDetections]:
        """Detect phones in each frame (one inference per frame: the IR's batch is 1)."""
        self._require_loaded()
        floor = min(REPORT_FLOOR, self.settings.phone_threshold)
        results = []
        for frame in frames:
            square, place = letterbox_square(frame, self._size)
            raw = self._request.infer([to_input([square])])[self._compiled.outputs[0]]
            phones = tuple(decode_phones(raw[0], place, frame.shape, floor))
            results.append(PhoneDetections(
                phones, any(p.confidence >= self.settings.phone_threshold for p in phones)))
        return results
