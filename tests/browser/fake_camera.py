"""Chromium's fake camera: a y4m file made from a test image, and the arguments that use it.

Chromium plays ``--use-file-for-fake-video-capture=FILE.y4m`` in a loop as the webcam. A y4m
is one header line, then per frame ``FRAME\\n`` and the raw I420 bytes (see NOTES.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2

from processors.vision.imaging import Image, letterbox, read_image
from tests.chromium import ARGS

WIDTH, HEIGHT = 640, 480


def write_y4m(image_path: Path, out: Path, frames: int = 2) -> Path:
    """The image letterboxed to 640x480, as a y4m of ``frames`` identical frames."""
    return write_y4m_frames([read_image(str(image_path))] * frames, out)


def write_y4m_frames(pictures: Sequence[Image], out: Path, fps: int = 10) -> Path:
    """Each picture letterboxed to 640x480, in order, as a y4m at ``fps`` (Chromium loops it)."""
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for picture in pictures:
            frame = letterbox(picture, (WIDTH, HEIGHT))
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return out


def launch_args(video: Path) -> list[str]:
    """Chromium's arguments for a camera that plays ``video`` (and asks no permission)."""
    return [*ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]
