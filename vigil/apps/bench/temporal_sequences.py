"""Sequences of per-frame liveness scores for `vigil bench temporal`.

Three sources, each a list of :class:`ScoreSequence` (one client session each):

- **measured**: each labelled image becomes one session of ``frames`` webcam frames, each a
  slightly different capture (shift, scale, light, noise, JPEG quality), scored by the face
  chain of the processors: its detector and liveness model (the main face's liveness; None
  when no face is found). Images come
  from ``DIR/bona_fide`` and ``DIR/attack`` (the layout of the accuracy set), or, for the
  shared test images, from the labels their README gives.
- **a JSON file** of the same sequences (``--scores``), e.g. written by a previous run, so the
  policy grid can be re-run without the models.
- **modelled**: sessions drawn from the measured scores, so that a chosen share of frames
  passes (an attack that fools the model on some frames, a genuine user the model sometimes
  rejects); ``persistence`` is the chance that a frame repeats the previous frame's outcome
  (0: independent frames; near 1: a session passes or fails as a whole, as confident misses
  do). Modelled sessions are labelled as such in every table.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from processors.vision.base import batches
from processors.vision.imaging import Image, decode_frame, encode_jpeg, letterbox, read_image
from processors.vision.results import DetectedFace
from vigil.core.settings import Settings

Label = Literal["bona_fide", "attack"]
LABELS: tuple[Label, ...] = ("bona_fide", "attack")
# The labels of ../shared/testdata (its README): real faces, and two attacks on one person.
TESTDATA_LABELS: dict[Label, tuple[str, ...]] = {
    "bona_fide": ("faces/*.jpg", "spoof/image_T1.jpg"),
    "attack": ("spoof/image_F1.jpg", "spoof/image_F2.jpg"),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ScoreSequence:
    """One session: its label, where it came from, and the main face's liveness per frame."""

    label: Label
    source: str
    liveness: tuple[float | None, ...]
    modelled: bool = False


def labelled_images(folder: Path) -> dict[Label, list[Path]]:
    """Images per label: ``folder/bona_fide`` and ``folder/attack``, else the testdata map."""
    found: dict[Label, list[Path]] = {label: [] for label in LABELS}
    if any((folder / label).is_dir() for label in LABELS):
        for label in LABELS:
            found[label] = sorted(p for p in (folder / label).glob("*")
                                  if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        for label, patterns in TESTDATA_LABELS.items():
            found[label] = sorted(p for pattern in patterns for p in folder.glob(pattern))
    if not any(found.values()):
        raise FileNotFoundError(f"no labelled images in {folder} (expected bona_fide/ and "
                                "attack/ folders, or the shared testdata layout)")
    return found


def capture(image: Image, rng: random.Random) -> Image:
    """One webcam-like capture of a still scene: small shift and zoom, light, noise, JPEG."""
    height, width = image.shape[:2]
    scale = rng.uniform(0.95, 1.05)
    matrix = np.array([[scale, 0, rng.uniform(-0.03, 0.03) * width],
                       [0, scale, rng.uniform(-0.03, 0.03) * height]], dtype=np.float32)
    moved = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    lit = cv2.convertScaleAbs(moved, alpha=rng.uniform(0.85, 1.15), beta=rng.uniform(-15, 15))
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 3, lit.shape)
    noisy = np.clip(lit.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return decode_frame(encode_jpeg(letterbox(noisy), quality=rng.randint(50, 80)))


def _area(face: DetectedFace) -> float:
    return (face.box[2] - face.box[0]) * (face.box[3] - face.box[1])


def measured_sequences(settings: Settings, folder: Path, frames: int, seed: int = 7
                       ) -> list[ScoreSequence]:
    """Score ``frames`` captures of every labelled image with the processors' face chain."""
    from processors.vision.chain import FaceChain

    chain = FaceChain.load(settings)
    rng = random.Random(seed)
    sequences = []
    for label, paths in labelled_images(folder).items():
        for path in paths:
            image = read_image(str(path), max_pixels=settings.models.max_image_pixels)
            captures = [capture(image, rng) for _ in range(frames)]
            scores: list[float | None] = []
            for batch in batches(captures, 8):
                # The chain's detector and liveness model only: identity plays no part here.
                detections = chain.detector.infer(batch)
                boxes = [[max(d.faces, key=_area).box] if d.faces else [] for d in detections]
                for found in chain.liveness.infer(batch, boxes):
                    scores.append(float(found[0]) if found else None)
            sequences.append(ScoreSequence(label, path.name, tuple(scores)))
    return sequences


def modelled_sequences(label: Label, passing: Sequence[float], failing: Sequence[float],
                       pass_rate: float, persistence: float, count: int, frames: int,
                       seed: int = 11) -> list[ScoreSequence]:
    """Sessions whose frames pass with ``pass_rate`` (see the module docstring)."""
    if not passing or not failing:
        raise ValueError("modelled sessions need measured passing and failing scores")
    rng = random.Random(seed)
    sequences = []
    for n in range(count):
        scores: list[float | None] = []
        passes = rng.random() < pass_rate
        for _ in range(frames):
            if rng.random() >= persistence:
                passes = rng.random() < pass_rate
            scores.append(rng.choice(passing) if passes else rng.choice(failing))
        sequences.append(ScoreSequence(label, f"modelled-{n}", tuple(scores), modelled=True))
    return sequences


def save_sequences(path: Path, sequences: Sequence[ScoreSequence]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"label": s.label, "source": s.source,
                                 "liveness": list(s.liveness)} for s in sequences], indent=1))


def load_sequences(path: Path) -> list[ScoreSequence]:
    """Sequences from a JSON list of {label, source, liveness: [score or null, ...]}."""
    raw = json.loads(path.read_text())
    out = []
    for item in raw:
        if item.get("label") not in LABELS:
            raise ValueError(f"{path}: label must be one of {LABELS}, got {item.get('label')!r}")
        scores = tuple(None if s is None else float(s) for s in item["liveness"])
        out.append(ScoreSequence(item["label"], str(item.get("source", "?")), scores))
    return out
