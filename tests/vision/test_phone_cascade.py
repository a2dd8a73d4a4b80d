"""The phone detector's cascade (``phone_cascade_floor``): the tiled view first, the closer
views only on the frames whose tiled cell holds a phone, tv or laptop score."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from processors.vision.chain import FaceChain
from processors.vision.phone_openvino import (
    CLASS_OFFSET,
    PHONE_CLASS,
    OpenVinoPhoneDetector,
    cell_peak,
    tile_layout,
)
from processors.vision.registry import load_plugin
from tests.vision.conftest import OBJECTS, as_webcam, needs_testdata
from vigil.core.settings import Settings


def test_a_cells_peak_is_the_best_reported_class_centred_in_it() -> None:
    raw = np.zeros((84, 4), np.float32)
    raw[0] = [10, 300, 400, 10]  # anchor centres x
    raw[1] = [10, 10, 400, 400]  # anchor centres y
    raw[CLASS_OFFSET + PHONE_CLASS, 1] = 0.4  # a phone in the top-right cell
    raw[CLASS_OFFSET + 62, 2] = 0.7  # a tv in the bottom-right cell
    raw[CLASS_OFFSET + 0, 0] = 0.9  # a person: not a reported class
    assert cell_peak(raw, (0.0, 0.0, 320.0, 320.0)) == pytest.approx(0.4)
    assert cell_peak(raw, (320.0, 320.0, 640.0, 640.0)) == pytest.approx(0.7)
    assert cell_peak(raw, (320.0, 0.0, 640.0, 320.0)) == 0.0  # no anchor centred in it


@needs_testdata
def test_the_closer_views_run_only_where_the_tiled_view_saw_something(
        vision_settings: Settings, chain: FaceChain) -> None:
    phone = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    grey = np.full((480, 640, 3), 90, np.uint8)
    frames = [grey, phone, grey, grey]
    always = load_plugin("phone_detector", vision_settings.replace(phone_cascade_floor=0.0),
                         chain.device, "yolo_openvino")
    cascade = load_plugin("phone_detector", vision_settings.replace(phone_cascade_floor=0.2),
                          chain.device, "yolo_openvino")
    assert isinstance(cascade, OpenVinoPhoneDetector)
    whole_runs: list[Any] = []
    run = cascade._run

    def counted(picture: Any, rect: bool) -> Any:
        whole_runs.extend([picture] if rect else [])
        return run(picture, rect)

    cascade._run = counted  # type: ignore[method-assign]
    found, reference = cascade.infer(frames), always.infer(frames)
    # Only the phone frame got its whole view, and the same phones as without the cascade.
    assert len(whole_runs) == 1
    assert found[1].phone and reference[1].phone
    assert [p.box for p in found[1].phones] == [p.box for p in reference[1].phones]
    assert [r.phones for i, r in enumerate(found) if i != 1] == [(), (), ()]
    # With the floor at 0, every frame gets it.
    whole_runs.clear()
    zero = vision_settings.replace(phone_cascade_floor=0.0)
    cascade.settings = zero
    cascade.infer(frames)
    assert len(whole_runs) == 4


@needs_testdata
@pytest.mark.parametrize("count", [1, 2, 3])
def test_fewer_than_four_tiled_frames_run_on_their_own_input(
        vision_settings: Settings, chain: FaceChain, count: int) -> None:
    # One frame on 320x320, two on 640x320, three on the square: the phone stays in its frame.
    tiled = load_plugin("phone_detector", vision_settings.replace(
        phone_views=("tiled",), phone_tile_alone=False), chain.device, "yolo_openvino")
    phone = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    grey = np.full((480, 640, 3), 90, np.uint8)
    frames = [grey] * (count - 1) + [phone]
    found = tiled.infer(frames)
    assert [r.phone for r in found] == [False] * (count - 1) + [True]
    assert tile_layout(count) == [(1, 1), (2, 1), (2, 2)][count - 1]


@needs_testdata
def test_a_frame_alone_gets_the_same_phones_whatever_is_batched_with_it(
        vision_settings: Settings, chain: FaceChain) -> None:
    # Shared cells see their neighbours: the same frame scores differently beside other
    # frames. With phone_tile_alone its tiled view runs on its own input, so it does not.
    phone = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    others = [as_webcam(OBJECTS / "bus.jpg"), as_webcam(OBJECTS / "zidane.jpg"),
              np.full((480, 640, 3), 200, np.uint8)]
    settings = vision_settings.replace(phone_views=("tiled",), phone_tile_alone=False)
    shared = load_plugin("phone_detector", settings, chain.device, "yolo_openvino")
    alone = load_plugin("phone_detector", settings.replace(phone_tile_alone=True),
                        chain.device, "yolo_openvino")

    def scores(detector: Any, frames: list[Any]) -> list[tuple[str, float]]:
        return sorted((p.label, round(p.confidence, 4)) for p in detector.infer(frames)[0].phones)

    batches = ([phone], [phone, *others], [phone, *others[::-1]])
    assert len({tuple(scores(shared, b)) for b in batches}) > 1  # shared: the neighbours count
    by_itself = scores(alone, [phone])
    assert by_itself and scores(alone, [phone, *others]) == by_itself
    assert scores(alone, [phone, *others[::-1]]) == by_itself
    assert scores(shared, [phone]) == by_itself  # one frame: the same 320x320 input
