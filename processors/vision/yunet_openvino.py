"""Face detector plug-in: the same YuNet ONNX file run by OpenVINO, decoded here.

``cv2.FaceDetectorYN`` runs YuNet on OpenCV's own DNN engine, which is slow on this kind of
CPU: 12.3 ms of CPU for a 640x480 frame on one thread, where OpenVINO takes 6.9 ms in f32
and 3.6 ms in bf16 (README, issue 11). This plug-in feeds OpenVINO the picture exactly as
OpenCV does and decodes the twelve outputs as OpenCV's ``face_detect.cpp`` does, so in f32 its
rows equal ``FaceDetectorYN``'s to about 1e-4 pixel (tests/vision/test_yunet_openvino.py):

- input: the BGR picture as float32, 0-255, padded at the bottom and right with zeros to a
  multiple of 32 on each side. The model is given the uint8 picture as it is (NHWC) and
  converts it itself (OpenVINO's preprocessing, compiled into the model: u8 to f32, NHWC to
  NCHW), which costs less than numpy's transpose and cast (about 1-1.6 ms a 640x480 frame);
  u8 to f32 is exact, so the network sees the same numbers;
- for each stride s in 8, 16, 32 and each cell (row r, column c) of the padded picture's grid:
  score = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1)); box centre ((c + dx) * s, (r + dy) * s),
  size (exp(dw) * s, exp(dh) * s); landmark k at ((c + kx_k) * s, (r + ky_k) * s);
- NMS (IoU 0.3, top 5000) over the boxes at or above ``face_detect_threshold``.

The ONNX file has a static 640x640 input; OpenVINO reshapes it to each picture size it meets
and keeps one compiled model per size (webcam frames come in one or two sizes).
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from processors.vision.imaging import Image
from processors.vision.openvino_ir import cpu_config
from processors.vision.yunet import NMS_THRESHOLD, TOP_K, YuNetFaceDetector
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
ALIGN = 32  # the padded picture's sides are multiples of this
MAX_SIZES = 8  # compiled models kept (one per picture size); the oldest goes first


def aligned(side: int) -> int:
    """``side`` rounded up to a multiple of ALIGN, as the padded picture's sides are."""
    return side + -side % ALIGN


def padded(picture: Image) -> tuple[np.ndarray, int, int]:
    """The tensor fed to the model for ``picture``: 1 x H' x W' x 3 uint8 BGR, zero-padded
    bottom-right to multiples of 32; with W' and H'."""
    height, width = picture.shape[:2]
    pad_h, pad_w = aligned(height) - height, aligned(width) - width
    full = picture if not (pad_h or pad_w) else cv2.copyMakeBorder(
        picture, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
    return np.ascontiguousarray(full, dtype=np.uint8)[None], width + pad_w, height + pad_h


def with_uint8_input(model: Any) -> Any:
    """``model`` (input 1 x 3 x H x W float32) taking 1 x H x W x 3 uint8 instead, converted
    inside the compiled model (OpenVINO's PrePostProcessor)."""
    from openvino import Layout, Type
    from openvino.preprocess import PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC"))
    steps.input().preprocess().convert_element_type(Type.f32)
    steps.input().model().set_layout(Layout("NCHW"))
    return steps.build()


def decode(outputs: dict[str, np.ndarray], width: int, height: int,
           threshold: float) -> np.ndarray | None:
    """Rows x, y, w, h, five landmarks (x, y), score (as ``FaceDetectorYN.detect``), NMS
    applied; None when no face reaches ``threshold``."""
    boxes, landmarks, scores = [], [], []
    for stride in STRIDES:
        cols = width // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= threshold)
        if keep.size == 0:
            continue
        rows, columns = np.divmod(keep, cols)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[keep]
        w, h = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        cx, cy = (columns + bbox[:, 0]) * stride, (rows + bbox[:, 1]) * stride
        boxes.append(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1))
        cells = np.stack([columns, rows], axis=1)[:, None, :]
        landmarks.append(((kps + cells) * stride).reshape(-1, 10))
        scores.append(score[keep])
    if not scores:
        return None
    box, mark, conf = np.concatenate(boxes), np.concatenate(landmarks), np.concatenate(scores)
    chosen = np.asarray(cv2.dnn.NMSBoxes(box.tolist(), conf.tolist(), threshold, NMS_THRESHOLD,
                                         top_k=TOP_K), dtype=np.int64).reshape(-1)
    return np.concatenate([box[chosen], mark[chosen], conf[chosen, None]], axis=1)


class OpenVinoYuNetFaceDetector(YuNetFaceDetector):
    """YuNet's faces as the ``yunet`` plug-in finds them, the network run by OpenVINO."""

    name = "yunet_openvino"

    def load(self) -> None:
        """Read the verified ONNX file; models are compiled per picture size when met."""
        import openvino as ov

        path = require_weight(self.settings, self.settings.models.yunet_weights)
        self._max_side = self.settings.models.yunet_max_side
        self._core = ov.Core()
        self._model = self._core.read_model(str(path))
        self._outputs = [output.get_any_name() for output in self._model.outputs]
        self._config = cpu_config(self.settings)
        self._compiled: dict[tuple[int, int], Any] = {}
        # The usual webcam shape (4:3 at the longest side YuNet searches), padded as frames are.
        self._request((aligned(self._max_side), aligned(self._max_side * 3 // 4)))
        self.loaded = True
        log.info("loaded face detector weights=%s runtime=openvino precision=%s", path.name,
                 self._config["INFERENCE_PRECISION_HINT"])

    def _request(self, size: tuple[int, int]) -> Any:
        """The infer request of the model compiled for a padded (width, height)."""
        if size not in self._compiled:
            if len(self._compiled) >= MAX_SIZES:
                self._compiled.pop(next(iter(self._compiled)))
            model = self._model.clone()
            model.reshape({model.inputs[0].get_any_name(): [1, 3, size[1], size[0]]})
            compiled = self._core.compile_model(with_uint8_input(model), "CPU", self._config)
            self._compiled[size] = compiled.create_infer_request()
        return self._compiled[size]

    def _rows(self, picture: Image) -> np.ndarray | None:
        tensor, width, height = padded(picture)
        request = self._request((width, height))
        request.infer({0: tensor})
        outputs = {name: request.get_output_tensor(i).data
                   for i, name in enumerate(self._outputs)}
        return decode(outputs, width, height, self.settings.models.face_detect_threshold)
