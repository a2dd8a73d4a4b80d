"""Phone detector plug-in: Ultralytics YOLO on COCO, keeping class 67 ("cell phone").

``YOLO(path, task="detect")`` loads whatever format the configured file is (.pt, .onnx,
.tflite). Ultralytics must never reach the network or write to the user's home: before it is
first imported its settings folder is pointed into the state folder, and offline mode and
no-auto-install are set.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import torch

from processors.vision.base import FramePlugin
from processors.vision.imaging import Image
from processors.vision.results import REPORTED_CLASSES, PhoneBox, PhoneDetections
from vigil.core.settings import Settings
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

PHONE_CLASS = 67
INPUT_SIZE = 640
# Boxes down to this confidence are reported (the decide stage may want weak evidence);
# ``phone`` is set only at phone_threshold.
REPORT_FLOOR = 0.1
# Exports with a fixed batch-1 input (TFLite here) run frame by frame; batching them in
# Ultralytics only makes it resize the interpreter's input on every call.
STATIC_BATCH_SUFFIXES = frozenset({".tflite"})


def prepare_ultralytics(settings: Settings) -> None:
    """Keep Ultralytics offline and its settings file under the state folder."""
    config_dir = (settings.deployment.state_dir / "ultralytics").resolve()
    if "ultralytics" in sys.modules:
        log.warning("ultralytics was imported before its settings folder could be set")
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"


class YoloPhoneDetector(FramePlugin[PhoneDetections]):
    """Phones in each frame with boxes and confidences."""

    name = "yolo"

    def load(self) -> None:
        """Load the verified YOLO file (format from its suffix)."""
        path = require_weight(self.settings, self.settings.models.phone_weights)
        prepare_ultralytics(self.settings)
        from ultralytics import YOLO

        self._model: Any = YOLO(str(path), task="detect")
        self._per_frame = path.suffix in STATIC_BATCH_SUFFIXES
        # fp16 only for PyTorch weights on CUDA; exported formats fix their own precision.
        self._half = self.device.half and path.suffix == ".pt"
        self._device = self.device.torch_device if path.suffix == ".pt" else "cpu"
        self.loaded = True
        log.info("loaded phone detector weights=%s", path.name)

    def infer(self, frames: Sequence[Image]) -> list[PhoneDetections]:
        """Detect phones in each frame; one result per frame."""
        self._require_loaded()
        if not frames:
            return []
        chunks = [[f] for f in frames] if self._per_frame else [list(frames)]
        options: dict[str, Any] = {"half": True} if self._half else {}
        results: list[PhoneDetections] = []
        # Ultralytics resets torch's CPU threads to cpu_count - 1 on every predict; put the
        # process's setting back so the face models sharing this process keep their threads.
        threads = torch.get_num_threads()
        try:
            for chunk in chunks:
                predictions = self._model.predict(
                    chunk, imgsz=INPUT_SIZE,
                    conf=min(REPORT_FLOOR, self.settings.models.phone_threshold),
                    classes=list(REPORTED_CLASSES), device=self._device, verbose=False,
                    **options,
                )
                results.extend(self._to_result(p) for p in predictions)
        finally:
            torch.set_num_threads(threads)
        return results

    def _to_result(self, prediction: Any) -> PhoneDetections:
        boxes = prediction.boxes
        xyxy = boxes.xyxy.cpu().numpy().tolist()
        confs = boxes.conf.cpu().numpy().tolist()
        classes = boxes.cls.cpu().numpy().tolist()
        phones = tuple(
            PhoneBox((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(c),
                     REPORTED_CLASSES[int(k)])
            for b, c, k in zip(xyxy, confs, classes, strict=True)
            if int(k) in REPORTED_CLASSES
        )
        phones = tuple(sorted(phones, key=lambda p: -p.confidence))
        return PhoneDetections(
            phones, any(p.is_phone and p.confidence >= self.settings.models.phone_threshold
                        for p in phones)
        )
