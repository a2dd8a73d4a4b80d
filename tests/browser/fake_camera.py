"""Chromium's fake camera: a y4m file made from a test image, and the arguments that use it.

Chromium plays ``--use-file-for-fake-video-capture=FILE.y4m`` in a loop as the webcam. A y4m
is one header line, then per frame ``FRAME\\n`` and the raw I420 bytes (see NOTES.md).
"""

from __future__ import annotations

from pathlib import Path

import cv2

from processors.vision.imaging import letterbox, read_image
from tests.chromium import ARGS

WIDTH, HEIGHT = 640, 480


def write_y4m(image_path: Path, out: Path, frames: int = 2) -> Path:
    """The image letterboxed to 640x480, as a y4m of ``frames`` identical frames."""
    picture = letterbox(read_image(str(image_path)), (WIDTH, HEIGHT))
    i420 = cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420).tobytes()
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + i420)
    return out


def launch_args(video: Path) -> list[str]:
    """Chromium's arguments for a camera that plays ``video`` (and asks no permission)."""
    return [*ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]
