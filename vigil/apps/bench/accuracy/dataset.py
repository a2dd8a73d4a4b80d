"""A labelled folder for `vigil bench accuracy`, and its pictures prepared as webcam frames.

Folders (any subset): ``bona_fide/``, ``attack/``, ``phone/``, ``no_phone/`` and
``identities/<name>/``. A picture may sit in several folders; identical files are run once.
Each picture is sent as a webcam client sends it: letterboxed to 640x480 and encoded as JPEG
quality 60 (:func:`processors.vision.imaging.webcam_jpeg`), then decoded by the code the
processors use. ``perturb`` first darkens it (a dim room) and blurs it (a cheap webcam's focus).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from processors.batch import DecodedFrame
from processors.vision.imaging import Image, decode_frame, read_image, webcam_jpeg
from schemas.events import FrameHeaders, FrameRef, now_ms
from vigil.core.errors import VigilError

LABELS = ("bona_fide", "attack", "phone", "no_phone")
IDENTITIES = "identities"
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# --perturb: brightness and gamma of a dim room, and a blur of this many pixels (sigma) at
# the 640 px width a webcam frame has.
DIM_GAIN = 0.55
DIM_GAMMA = 1.4
BLUR_SIGMA_AT_640 = 1.6


class LabelledSetError(VigilError, ValueError):
    """A labelled folder or development set that cannot be used; the message says why."""


@dataclass
class LabelledSet:
    """Pictures by label and identity; each distinct picture once in ``pictures``."""

    root: Path
    pictures: list[Path] = field(default_factory=list)
    labels: dict[str, list[int]] = field(default_factory=dict)  # label -> picture indices
    identities: dict[str, list[int]] = field(default_factory=dict)

    def count(self, label: str) -> int:
        """How many pictures carry ``label`` (0 when the folder is absent)."""
        return len(self.labels.get(label, []))


def _pictures_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)


def load_labelled_set(root: Path) -> LabelledSet:
    """Index ``root``'s folders; identical files (by sha256) become one picture."""
    if not root.is_dir():
        raise LabelledSetError(f"no labelled folder at {root} (make one with --make-devset)")
    found = LabelledSet(root)
    by_digest: dict[str, int] = {}

    def index_of(path: Path) -> int:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in by_digest:
            by_digest[digest] = len(found.pictures)
            found.pictures.append(path)
        return by_digest[digest]

    for label in LABELS:
        if (root / label).is_dir():
            found.labels[label] = [index_of(p) for p in _pictures_in(root / label)]
    if (root / IDENTITIES).is_dir():
        for person in sorted(p for p in (root / IDENTITIES).iterdir() if p.is_dir()):
            found.identities[person.name] = [index_of(p) for p in _pictures_in(person)]
    if not found.pictures:
        raise LabelledSetError(
            f"{root} holds no pictures under {', '.join((*LABELS, IDENTITIES))}/")
    return found


def perturbed(image: Image) -> Image:
    """The picture darker (gain and gamma) and blurred, the blur scaled to the picture's size."""
    dim = 255.0 * DIM_GAIN * (image.astype(np.float32) / 255.0) ** DIM_GAMMA
    sigma = BLUR_SIGMA_AT_640 * max(image.shape[:2]) / 640
    return np.asarray(cv2.GaussianBlur(np.clip(dim, 0, 255).astype(np.uint8), (0, 0), sigma),
                      dtype=np.uint8)


def webcam_frames(pictures: Iterable[Path], max_pixels: int,
                  perturb: bool = False) -> list[DecodedFrame]:
    """Each picture as the processors receive it: a webcam JPEG, decoded, with headers."""
    frames = []
    now = now_ms()
    for index, path in enumerate(pictures):
        image = read_image(str(path), max_pixels=max_pixels)
        jpeg = webcam_jpeg(perturbed(image) if perturb else image)
        decoded = decode_frame(jpeg, max_pixels=max_pixels)
        headers = FrameHeaders(frame_id=f"bench-{index}", client_id="bench",
                               session_id="bench", seq=index, captured_at=now, received_at=now)
        frames.append(DecodedFrame(headers, FrameRef(topic="bench", partition=0, offset=index),
                                   decoded))
    return frames
