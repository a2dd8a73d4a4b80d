"""decode_frame refuses bad bytes with a typed error; letterbox and webcam encoding."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from processors.vision.imaging import (
    BadImageError,
    decode_frame,
    encode_jpeg,
    jpeg_dimensions,
    letterbox,
    webcam_jpeg,
)


def _photo(height: int = 240, width: int = 320) -> np.ndarray:
    """A smooth colour gradient: JPEG keeps it close, so a decode can be compared."""
    ys, xs = np.mgrid[0:height, 0:width]
    blue, green = xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1)
    return np.dstack([blue, green, 255 - blue]).astype(np.uint8)


def huge_jpeg_header(width: int = 10000, height: int = 10000) -> bytes:
    """A small valid JPEG whose frame header claims ``width`` x ``height``."""
    data = bytearray(encode_jpeg(_photo(64, 64)))
    _w, _h, _scan = jpeg_dimensions(bytes(data))
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_decodes_a_jpeg_to_bgr() -> None:
    image = _photo()
    frame = decode_frame(encode_jpeg(image, 95))
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - image.astype(int)).mean() < 3


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"\xff\xd8\xff", "truncated"),
        (b"GIF89a" + b"\x00" * 100, "not_jpeg"),
    ],
)
def test_refuses_bad_bytes(data: bytes, code: str) -> None:
    with pytest.raises(BadImageError) as info:
        decode_frame(data)
    assert info.value.code == code


def test_truncated_jpeg_is_refused() -> None:
    data = encode_jpeg(_photo())
    with pytest.raises(BadImageError) as info:
        decode_frame(data[: len(data) // 2])
    assert info.value.code == "truncated"


def test_png_is_refused_as_jpeg_but_accepted_for_enrollment() -> None:
    ok, png = cv2.imencode(".png", _photo())
    assert ok
    with pytest.raises(BadImageError) as info:
        decode_frame(png.tobytes())
    assert info.value.code == "not_jpeg"
    assert decode_frame(png.tobytes(), require_jpeg=False).shape == (240, 320, 3)


def test_one_pixel_image_is_too_small() -> None:
    with pytest.raises(BadImageError) as info:
        decode_frame(encode_jpeg(np.zeros((1, 1, 3), np.uint8)))
    assert info.value.code == "too_small"


def test_huge_image_is_refused_from_its_header() -> None:
    data = huge_jpeg_header()
    assert jpeg_dimensions(data)[:2] == (10000, 10000)
    with pytest.raises(BadImageError) as info:
        decode_frame(data, max_pixels=4096 * 4096)
    assert info.value.code == "too_large"
    assert "10000x10000" in str(info.value)


def test_letterbox_keeps_aspect_and_pads() -> None:
    tall = np.full((640, 480, 3), 200, np.uint8)  # portrait, like the spoof samples
    boxed = letterbox(tall)
    assert boxed.shape == (480, 640, 3)
    columns = boxed[240].mean(axis=1)
    assert columns[:50].max() == 0 and columns[320] == 200  # black bars, picture centred
    assert (columns > 0).sum() == 360  # 480 * (480 / 640) columns of picture


def test_webcam_jpeg_is_a_640x480_jpeg() -> None:
    data = webcam_jpeg(_photo(427, 640))
    assert data[:2] == b"\xff\xd8"
    assert jpeg_dimensions(data)[:2] == (640, 480)
    assert decode_frame(data).shape == (480, 640, 3)


def test_content_bounds_finds_the_picture_inside_letterbox_bars() -> None:
    import numpy as np

    from processors.vision.imaging import content_bounds, decode_frame, letterbox, webcam_jpeg

    portrait = np.full((400, 200, 3), 120, dtype=np.uint8)
    boxed = letterbox(portrait, (640, 480))
    assert content_bounds(boxed) == (200, 0, 440, 480)
    # JPEG leaves the bars near zero, not at zero.
    x0, y0, x1, y1 = content_bounds(decode_frame(webcam_jpeg(portrait, quality=60)))
    assert abs(x0 - 200) <= 2 and abs(x1 - 440) <= 2 and (y0, y1) == (0, 480)
    dark = np.zeros((48, 64, 3), dtype=np.uint8)
    assert content_bounds(dark) == (0, 0, 64, 48)


def test_content_bounds_agree_with_the_brightest_channel_of_each_row_and_column() -> None:
    import numpy as np

    from processors.vision.imaging import content_bounds

    def by_channel(frame: np.ndarray, dark: int = 16) -> tuple[int, int, int, int]:
        brightest = frame.max(axis=2)  # the definition, as written before it was made fast
        rows = np.flatnonzero(brightest.max(axis=1) >= dark)
        cols = np.flatnonzero(brightest.max(axis=0) >= dark)
        if rows.size == 0 or cols.size == 0:
            return 0, 0, frame.shape[1], frame.shape[0]
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1

    rng = np.random.default_rng(7)
    for _ in range(50):
        frame = rng.integers(0, 16, size=(48, 64, 3), dtype=np.uint8)  # all "dark"
        y0, x0 = rng.integers(0, 24), rng.integers(0, 32)
        y1, x1 = rng.integers(y0, 48), rng.integers(x0, 64)
        frame[y0:y1, x0:x1, rng.integers(0, 3)] = rng.integers(16, 256)  # one channel lit
        assert content_bounds(frame) == by_channel(frame)
