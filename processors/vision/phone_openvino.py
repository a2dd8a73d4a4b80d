"""Phone detector plug-in: Ultralytics YOLO11n int8 as an OpenVINO IR, run by plain OpenVINO.

No Ultralytics at run time: this module letterboxes each frame as Ultralytics does (scale to
fit ``phone_input_size``, pad with grey 114 to a square, RGB, 0-1), runs the IR compiled for
the CPU, reads COCO class 67 ("cell phone") from the raw ``[N, 84, anchors]`` output (box
centre, size, then 80 class scores that are already sigmoids), keeps boxes down to the report
floor, removes overlaps with NMS (IoU 0.7, Ultralytics' default) and maps the boxes back to
the frame's pixels.

The IR was exported with a static 1x3x640x640 input: measured with openvino 2026.4,
``model.reshape`` to any other size (480, 512, 736, 800, 960) or to a batch of 8, static or
dynamic, fails on the attention block (C2PSA), whose Reshape carries the constant shape
[1, 2, 128, 400]. So the square's size is read from the IR and frames run one at a time; with
``phone_rect_input`` the whole view runs on a 640x480 input instead, made by rewriting those
constants (yolo_rect.py).

Test-time views (``phone_views``): besides the ``whole`` image, the detector may also look at
it ``shrunk`` (half size inside the square: a phone held close to the camera is much larger
than the phones COCO taught the model), at its ``centre`` (the middle 60%, enlarged: a phone
held near a centred face is small in a 640x480 frame), at its ``lower`` part (the lower 60%
and middle two thirds, enlarged: where hands hold a phone below the webcam) and
``mirrored``. Each view is one more inference; their boxes, mapped back to the image, are
merged by NMS (IoU 0.5).

``tiled`` is the shrunk view at a quarter of its cost: four frames of a batch, each fitted
into a 320x320 cell (half size, as ``shrunk``), share one inference; a box belongs to the cell
its centre lies in and is clipped to that cell. One frame runs on a 320x320 input and two on
640x320 (the IR rewritten for those shapes as for the rectangular whole view, yolo_rect.py),
three or four on the square (a missing fourth cell is grey): a lone frame costs a quarter of
the square, not all of it. A grey gutter inside each cell (4 or 8 pixels) measured worse on
the development set (README, issue 11) than cells that touch. The cells see their neighbours
(the network's receptive field crosses a cell's edge), so a frame's scores depend on the
frames batched with it, of any client; with ``phone_tile_alone`` (on as shipped) every frame
runs alone on the 320x320 input instead, so its scores are its own (docs/sessions.md, round 7).

The cascade (``phone_cascade_floor`` > 0, with ``tiled`` among the views): the tiled view runs
first, and the other views only on the frames whose cell holds a phone, tv or laptop score of
at least the floor (read from the raw output, below the report floor). On the development
frames a floor of 0.02 left the whole view to 28% of them and kept 607 of 613 phone verdicts:
a frame with nothing phone- or screen-like at half size seldom has a phone the whole view
finds (docs/benchmarks/end-to-end.md, fifth round).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import FramePlugin
from processors.vision.imaging import Image
from processors.vision.openvino_ir import cpu_config
from processors.vision.results import REPORTED_CLASSES, BoxXYXY, PhoneBox, PhoneDetections
from processors.vision.yolo_rect import rect_model
from vigil.core.settings import PhoneView
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)

PHONE_CLASS = 67
CLASS_OFFSET = 4  # rows 0-3 are cx, cy, w, h; class scores follow
REPORT_FLOOR = 0.1  # boxes down to this are reported; ``phone`` needs phone_threshold
NMS_IOU = 0.7
VIEWS_IOU = 0.5  # boxes of one phone seen in several views overlap less than NMS_IOU
PAD_VALUE = 114
SHRINK = 0.5  # the ``shrunk`` view: the image at half the whole view's scale
TILES = 2  # the ``tiled`` view: TILES x TILES cells, one frame each
RECT_WIDTH, RECT_HEIGHT = 640, 480  # the rectangular input of phone_rect_input
CENTRE = 0.6  # the ``centre`` view: the middle 60% of width and height
# The ``lower`` view: the lower 60% of the rows, the middle 2/3 of the columns (where hands
# hold phones below a webcam), 1.5x closer than the whole view of a 640x480 frame.
LOWER_HEIGHT, LOWER_WIDTH = 0.6, 2 / 3


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square input: scale, then left/top padding; for a
    view, also the part of the image it shows (``origin``) and whether it was mirrored."""

    scale: float
    left: int
    top: int
    origin: tuple[int, int] = (0, 0)
    mirrored_width: int = 0  # the image's width when the view was mirrored, else 0

    def to_image(self, x1: float, y1: float, x2: float, y2: float) -> BoxXYXY:
        """A box in the square's pixels as a box in the image's pixels (not clipped)."""
        xs = ((x1 - self.left) / self.scale + self.origin[0],
              (x2 - self.left) / self.scale + self.origin[0])
        if self.mirrored_width:
            xs = (self.mirrored_width - xs[1], self.mirrored_width - xs[0])
        return (xs[0], (y1 - self.top) / self.scale + self.origin[1],
                xs[1], (y2 - self.top) / self.scale + self.origin[1])


def letterbox_to(frame: Image, box_w: int, box_h: int, shrink: float = 1.0
                 ) -> tuple[Image, Letterbox]:
    """Ultralytics' LetterBox(auto=False): fit into box_w x box_h, centred, grey padding;
    ``shrink`` < 1 makes the picture that much smaller inside the box."""
    height, width = frame.shape[:2]
    scale = min(box_h / height, box_w / width) * shrink
    new_w, new_h = round(width * scale), round(height * scale)
    pad_w, pad_h = (box_w - new_w) / 2, (box_h - new_h) / 2
    resized = frame if (new_w, new_h) == (width, height) else cv2.resize(
        frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    padded = cv2.copyMakeBorder(resized, top, box_h - new_h - top, left, box_w - new_w - left,
                                cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return np.asarray(padded, dtype=np.uint8), Letterbox(scale, left, top)


def letterbox_square(frame: Image, size: int, shrink: float = 1.0) -> tuple[Image, Letterbox]:
    """:func:`letterbox_to` a size x size square."""
    return letterbox_to(frame, size, size, shrink)


def view_square(image: Image, size: int, view: PhoneView) -> tuple[Image, Letterbox]:
    """The square model input of one test-time view of ``image`` (see the module docstring)."""
    if view == "shrunk":
        return letterbox_square(image, size, SHRINK)
    if view == "mirrored":
        square, place = letterbox_square(np.ascontiguousarray(image[:, ::-1]), size)
        return square, replace(place, mirrored_width=image.shape[1])
    if view == "lower":
        height, width = image.shape[:2]
        left, top = round(width * (1 - LOWER_WIDTH) / 2), round(height * (1 - LOWER_HEIGHT))
        crop = np.ascontiguousarray(image[top:, left : width - left])
        square, place = letterbox_square(crop, size)
        return square, replace(place, origin=(left, top))
    if view == "centre":
        height, width = image.shape[:2]
        left, top = round(width * (1 - CENTRE) / 2), round(height * (1 - CENTRE) / 2)
        crop = np.ascontiguousarray(image[top : height - top, left : width - left])
        square, place = letterbox_square(crop, size)
        return square, replace(place, origin=(left, top))
    return letterbox_square(image, size)


def tile_layout(count: int) -> tuple[int, int]:
    """Columns and rows of the tiled input for ``count`` frames (at most TILES x TILES)."""
    assert 0 < count <= TILES * TILES
    return (1, 1) if count == 1 else (2, 1) if count == 2 else (TILES, TILES)


def tiled(images: Sequence[Image], cell: int
          ) -> tuple[Image, list[tuple[Letterbox, BoxXYXY]]]:
    """The images, each letterboxed into its own ``cell`` x ``cell`` square, row by row on
    one grey input of :func:`tile_layout`'s shape; each image's placement and cell."""
    cols, rows = tile_layout(len(images))
    canvas = np.full((rows * cell, cols * cell, 3), PAD_VALUE, dtype=np.uint8)
    places = []
    for index, image in enumerate(images):
        x0, y0 = (index % cols) * cell, (index // cols) * cell
        canvas[y0 : y0 + cell, x0 : x0 + cell], place = letterbox_to(image, cell, cell)
        places.append((replace(place, left=place.left + x0, top=place.top + y0),
                       (float(x0), float(y0), float(x0 + cell), float(y0 + cell))))
    return canvas, places


def to_input(squares: Sequence[Image]) -> npt.NDArray[np.float32]:
    """N x 3 x S x S float32 RGB in 0-1 from BGR uint8 squares."""
    batch = np.stack(squares)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255.0)


def decode_phones(raw: npt.NDArray[np.float32], place: Letterbox, frame_shape: tuple[int, ...],
                  floor: float, cell: BoxXYXY | None = None) -> list[PhoneBox]:
    """Phone and screen boxes of one image from its ``[84, anchors]`` output (each class of
    REPORTED_CLASSES with its own NMS), in frame pixels, the most confident first; with
    ``cell`` (square pixels), only boxes centred in it, clipped to it."""
    found = [box for coco_class, label in REPORTED_CLASSES.items()
             for box in decode_class(raw, place, frame_shape, floor, coco_class, label, cell)]
    return sorted(found, key=lambda p: -p.confidence)


def decode_class(raw: npt.NDArray[np.float32], place: Letterbox, frame_shape: tuple[int, ...],
                 floor: float, coco_class: int, label: str, cell: BoxXYXY | None = None
                 ) -> list[PhoneBox]:
    """The boxes of one COCO class (see :func:`decode_phones`)."""
    scores = raw[CLASS_OFFSET + coco_class]
    wanted = scores >= floor
    if cell is not None:
        wanted &= centred_in(raw, cell)
    keep = np.flatnonzero(wanted)
    if keep.size == 0:
        return []
    cx, cy, w, h = raw[0, keep], raw[1, keep], raw[2, keep], raw[3, keep]
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if cell is not None:
        x1, x2 = np.clip(x1, cell[0], cell[2]), np.clip(x2, cell[0], cell[2])
        y1, y2 = np.clip(y1, cell[1], cell[3]), np.clip(y2, cell[1], cell[3])
    xywh = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), floor, NMS_IOU)
    boxes = [PhoneBox(place.to_image(x, y, x + bw, y + bh), float(scores[keep][i]), label)
             for i in np.asarray(chosen, dtype=np.int64).reshape(-1)
             for x, y, bw, bh in (xywh[i],)]
    return clipped(boxes, frame_shape)


def centred_in(raw: npt.NDArray[np.float32], cell: BoxXYXY) -> npt.NDArray[np.bool_]:
    """Which anchors of a ``[84, anchors]`` output have their box centre in ``cell``."""
    return np.asarray((raw[0] >= cell[0]) & (raw[0] < cell[2]) & (raw[1] >= cell[1])
                      & (raw[1] < cell[3]))


def cell_peak(raw: npt.NDArray[np.float32], cell: BoxXYXY) -> float:
    """The highest phone, tv or laptop score among the anchors centred in ``cell``."""
    inside = centred_in(raw, cell)
    if not inside.any():
        return 0.0
    rows = [CLASS_OFFSET + c for c in REPORTED_CLASSES]
    return float(raw[rows][:, inside].max())


def clipped(phones: Sequence[PhoneBox], frame_shape: tuple[int, ...]) -> list[PhoneBox]:
    """The boxes clipped to the image, empty ones dropped, the most confident first."""
    height, width = frame_shape[:2]
    kept = []
    for phone in phones:
        x1, y1, x2, y2 = phone.box
        box = (min(max(x1, 0.0), width), min(max(y1, 0.0), height),
               min(max(x2, 0.0), width), min(max(y2, 0.0), height))
        if box[2] > box[0] and box[3] > box[1]:
            kept.append(PhoneBox(box, phone.confidence, phone.label))
    return sorted(kept, key=lambda p: -p.confidence)


def merge_views(per_view: Sequence[Sequence[PhoneBox]], floor: float) -> list[PhoneBox]:
    """One box per phone (or screen) seen in one or several views (NMS over the union of each
    label's boxes, IoU VIEWS_IOU)."""
    boxes = [p for view in per_view for p in view]
    if len(per_view) < 2 or not boxes:
        return list(boxes)
    merged: list[PhoneBox] = []
    for label in {p.label for p in boxes}:
        same = [p for p in boxes if p.label == label]
        xywh = [[p.box[0], p.box[1], p.box[2] - p.box[0], p.box[3] - p.box[1]] for p in same]
        chosen = cv2.dnn.NMSBoxes(xywh, [p.confidence for p in same], floor, VIEWS_IOU)
        merged += [same[i] for i in np.asarray(chosen, dtype=np.int64).reshape(-1)]
    return sorted(merged, key=lambda p: -p.confidence)


class OpenVinoPhoneDetector(FramePlugin[PhoneDetections]):
    """Phones in each frame with boxes and confidences (YOLO11n int8, OpenVINO on the CPU)."""

    name = "yolo_openvino"

    def load(self) -> None:
        """Read the verified IR (and its .bin) and compile it for the CPU."""
        import openvino as ov

        xml = require_weight(self.settings, self.settings.models.phone_openvino_model)
        require_weight(self.settings, self.settings.models.phone_openvino_model.removesuffix(".xml")
                       + ".bin")
        core = ov.Core()
        model = core.read_model(str(xml))
        self._size = int(model.inputs[0].get_shape()[2])  # static N x 3 x S x S
        # f32 around the int8 layers whatever openvino_precision says: 20.4 ms of CPU a view
        # on one thread against 23.9 in bf16 (README, issue 11), the same detections.
        config = cpu_config(self.settings, "f32", self.settings.models.phone_inference_threads)
        self._square = core.compile_model(model, "CPU", config).create_infer_request()
        # The whole view of a webcam frame on a 640x480 input (yolo_rect.py), and the tiled
        # view of one or two frames on a 320x320 or 640x320 input (a quarter or half of the
        # square's cost); three or four tiled frames run on the square.
        self._rect = None
        self._tiles: dict[tuple[int, int], Any] = {}
        if self.settings.models.phone_rect_input:
            rect = rect_model(model, self._size, RECT_HEIGHT, RECT_WIDTH)
            self._rect = core.compile_model(rect, "CPU", config).create_infer_request()
            cell = self._size // TILES
            for cols, rows in (tile_layout(1), tile_layout(2)):
                small = rect_model(model, self._size, rows * cell, cols * cell)
                self._tiles[cols, rows] = core.compile_model(small, "CPU",
                                                             config).create_infer_request()
        self.loaded = True
        log.info("loaded phone detector weights=%s input=%dx%d%s", xml.name, self._size,
                 self._size, f" and {RECT_WIDTH}x{RECT_HEIGHT}" if self._rect else "")

    def infer(self, frames: Sequence[Image]) -> list[PhoneDetections]:
        """Detect phones in each frame: one inference per frame and view (the IR's batch is
        1), one per four frames for the tiled view. With ``phone_cascade_floor`` the tiled
        view runs first, and the other views only on the frames it found something in."""
        self._require_loaded()
        floor = min(REPORT_FLOOR, self.settings.models.phone_threshold)
        views = self.settings.models.phone_views
        per_frame: list[list[list[PhoneBox]]] = [[] for _ in frames]
        closer = list(range(len(frames)))  # the frames the other views run on
        if "tiled" in views:
            peaks = self._tiled(frames, floor, per_frame)
            cascade = self.settings.models.phone_cascade_floor
            if cascade > 0:
                closer = [i for i in closer if peaks[i] >= cascade]
        for view in views:
            if view == "tiled":
                continue
            for index in closer:
                frame = frames[index]
                if view == "whole" and self._rect is not None:
                    canvas, place = letterbox_to(frame, RECT_WIDTH, RECT_HEIGHT)
                    raw = self._run(canvas, rect=True)
                else:
                    canvas, place = view_square(frame, self._size, view)
                    raw = self._run(canvas, rect=False)
                per_frame[index].append(decode_phones(raw, place, frame.shape, floor))
        results = []
        for per_view in per_frame:
            phones = tuple(merge_views(per_view, floor))
            results.append(PhoneDetections(
                phones, any(p.is_phone and p.confidence >= self.settings.models.phone_threshold
                            for p in phones)))
        return results

    def _tiled(self, frames: Sequence[Image], floor: float,
               per_frame: list[list[list[PhoneBox]]]) -> list[float]:
        """The tiled view of every frame, appended to ``per_frame``; each frame's peak score
        of a reported class in its cell (what the cascade reads, below the report floor too).

        On the square: four 320x320 cells keep grey between the rows of frames. Four 320x240
        cells on the 640x480 input let the large phones of replays through (development set:
        3/40 attacks passed against 2/40; README)."""
        group = 1 if self.settings.models.phone_tile_alone else TILES * TILES
        peaks: list[float] = []
        for start in range(0, len(frames), group):
            chunk = frames[start : start + group]
            canvas, places = tiled(chunk, self._size // TILES)
            raw = self._run_tiles(canvas, tile_layout(len(chunk)))
            for offset, (frame, (place, cell)) in enumerate(zip(chunk, places, strict=True)):
                per_frame[start + offset].append(
                    decode_phones(raw, place, frame.shape, floor, cell))
                peaks.append(cell_peak(raw, cell))
        return peaks

    def _run_tiles(self, canvas: Image, layout: tuple[int, int]) -> npt.NDArray[np.float32]:
        """The raw output of a tiled input: on its own compiled shape, or padded to the
        square with grey where there is none (``phone_rect_input`` off)."""
        request = self._tiles.get(layout)
        if request is None:
            square = np.full((self._size, self._size, 3), PAD_VALUE, dtype=np.uint8)
            square[: canvas.shape[0], : canvas.shape[1]] = canvas
            return self._run(square, rect=False)
        return _raw_output(request, canvas)

    def _run(self, picture: Image, rect: bool) -> npt.NDArray[np.float32]:
        """The raw ``[84, anchors]`` output for one square, or one 640x480 ``rect``."""
        request = self._rect if rect else self._square
        assert request is not None
        return _raw_output(request, picture)


def _raw_output(request: Any, picture: Image) -> npt.NDArray[np.float32]:
    """One picture through a compiled IR's infer request: its raw ``[84, anchors]`` output."""
    request.infer([to_input([picture])])
    return np.array(request.get_output_tensor(0).data[0], dtype=np.float32)
