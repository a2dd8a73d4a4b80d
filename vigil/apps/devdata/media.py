"""Pictures and video frames from bytes: decode, sample evenly, encode as JPEG."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vigil.core.errors import VigilError

Image = np.ndarray
JPEG_QUALITY = 92  # frames re-encoded from video; still pictures are copied byte for byte


class MediaError(VigilError):
    """A picture or video that cannot be decoded."""


def picture_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded picture; :class:`MediaError` if it does not decode."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise MediaError("not a decodable picture")
    return int(image.shape[1]), int(image.shape[0])


def encode_jpeg(image: Image) -> bytes:
    """JPEG bytes of a BGR frame."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise MediaError("JPEG encoding failed")
    return bytes(buf)


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def evenly(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)`` (all of them if fewer)."""
    if wanted >= count:
        return list(range(count))
    return [int((i + 0.5) * count / wanted) for i in range(wanted)]


class Video:
    """A video held in a temporary file, read frame by frame (capture order) with OpenCV."""

    def __init__(self, data: bytes, suffix: str) -> None:
        self._file = tempfile.NamedTemporaryFile(suffix=suffix)  # noqa: SIM115 - closed in close()
        self._file.write(data)
        self._file.flush()
        capture = cv2.VideoCapture(self._file.name)
        if not capture.isOpened():
            self.close()
            raise MediaError("not a decodable video")
        self.fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
        # Containers often misreport their frame count: count by grabbing (no decoding).
        self.count = 0
        while capture.grab():
            self.count += 1
        capture.release()
        if self.count == 0:
            self.close()
            raise MediaError("a video with no frames")

    def frames(self, wanted: list[int]) -> Iterator[tuple[int, Image]]:
        """The frames at the (sorted) indices ``wanted``, in capture order."""
        targets = set(wanted)
        capture = cv2.VideoCapture(self._file.name)
        try:
            for index in range(self.count):
                if not capture.grab():
                    return
                if index in targets:
                    ok, frame = capture.retrieve()
                    if ok:
                        yield index, frame
        finally:
            capture.release()

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def suffix_of(path: str) -> str:
    """The file suffix OpenCV needs to pick a demuxer (``.mp4``, ``.mov``...)."""
    return Path(path).suffix.lower() or ".mp4"
