"""The ``lower`` test-time view of the phone detector: where hands hold phones, closer."""

from __future__ import annotations

import numpy as np
import pytest

from processors.vision.phone_openvino import view_square


def test_the_lower_phone_view_looks_closer_at_the_lower_middle_and_maps_boxes_back() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    image[400:440, 300:340] = 255  # a bright block where a hand would hold a phone
    square, place = view_square(image, 640, "lower")
    assert square.shape == (640, 640, 3) and place.scale == pytest.approx(1.5, abs=0.01)
    ys, xs = np.nonzero(square[..., 0] > 128)
    box = place.to_image(float(xs.min()), float(ys.min()), float(xs.max() + 1),
                         float(ys.max() + 1))
    assert box == pytest.approx((300, 400, 340, 440), abs=1.5)
