"""Raw liveness scores and face quality of every frame of the development frame sets.

Each picture is sent as a webcam client sends it (letterboxed to 640x480, JPEG quality 60,
decoded by the processors' code), the configured face detector finds the main face, and each
liveness model scores it raw (uncalibrated), with its own crop, as the face chain runs it.
Genuine pictures of full-frame sets are also scored in worse light and focus (the
``VARIANTS``), for the quality gate. Results are cached per set in ``VIGIL_CACHE`` (or the
state folder), keyed by the set's file list and the models, so a second run is free.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.base import FacePlugin, FramePlugin, batches
from processors.vision.device import select_device
from processors.vision.imaging import Image, decode_frame, read_image, webcam_jpeg
from processors.vision.quality import measure
from processors.vision.registry import load_plugin
from processors.vision.results import BoxXYXY, FaceDetections
from vigil.apps.bench.accuracy.dataset import load_labelled_set
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

MODELS = ("minifasnet_openvino", "celebaspoof_openvino")
CROPS_SUFFIX = "-crops"  # sets of face crops, not webcam frames (devdata's naming)


def _dim(gain: float, gamma: float) -> Callable[[Image], Image]:
    def apply(image: Image) -> Image:
        level = 255.0 * gain * (image.astype(np.float32) / 255.0) ** gamma
        return np.asarray(np.clip(level, 0, 255), dtype=np.uint8)
    return apply


def _blur(sigma_at_640: float) -> Callable[[Image], Image]:
    def apply(image: Image) -> Image:
        sigma = sigma_at_640 * max(image.shape[:2]) / 640
        return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8)
    return apply


def _bright(gain: float) -> Callable[[Image], Image]:
    def apply(image: Image) -> Image:
        return np.asarray(np.clip(image.astype(np.float32) * gain, 0, 255), dtype=np.uint8)
    return apply


# Genuine pictures made worse, as a poor webcam or room would: none of them is an attack.
VARIANTS: dict[str, Callable[[Image], Image]] = {
    "dim": _dim(0.55, 1.4),  # `vigil bench accuracy --perturb`'s dim room, without blur
    "dark": _dim(0.3, 1.6),
    "blurred": _blur(3.0),
    "bright": _bright(2.2),
}


@dataclass
class SetScores:
    """One set's frames: label, variant, the main face's raw scores per model and quality."""

    name: str
    live: npt.NDArray[np.bool_]  # bona fide (True) or attack (False)
    variant: list[str]  # "" for the picture as it is, else a VARIANTS key
    found: npt.NDArray[np.bool_]  # a face was detected
    raw: dict[str, npt.NDArray[np.float64]]  # model -> score (nan without a face)
    quality: npt.NDArray[np.float64]  # frames x (brightness, sharpness, overexposed, side)

    @property
    def crops(self) -> bool:
        """A set of face crops rather than webcam frames."""
        return self.name.endswith(CROPS_SUFFIX)


def _frames(paths: Sequence[Path], settings: Settings,
            variant: Callable[[Image], Image] | None) -> list[Image]:
    frames = []
    for path in paths:
        image = read_image(str(path), max_pixels=settings.models.max_image_pixels)
        if variant is not None:
            image = variant(image)
        frames.append(decode_frame(webcam_jpeg(image), max_pixels=settings.models.max_image_pixels))
    return frames


class Scorer:
    """The detector and the raw liveness models, loaded once."""

    def __init__(self, settings: Settings) -> None:
        device = select_device(settings, uses_torch=False)
        self.settings = settings
        self.detector = cast(FramePlugin[FaceDetections],
                             load_plugin("face_detector", settings, device))
        self.models = {name: cast(FacePlugin[float],
                                  load_plugin("liveness_model", settings, device, name))
                       for name in MODELS}

    def score(self, frames: Sequence[Image]) -> tuple[list[bool], dict[str, list[float]],
                                                      list[tuple[float, ...]]]:
        """Per frame: face found, each model's raw score of the main face, its quality."""
        found: list[bool] = []
        raw: dict[str, list[float]] = {name: [] for name in self.models}
        quality: list[tuple[float, ...]] = []
        for batch in batches(frames, self.settings.processors.face_batch_size):
            mains: list[list[BoxXYXY]] = [[d.faces[0].box] if d.faces else []
                                          for d in self.detector.infer(batch)]
            per_model = {name: model.infer(batch, mains) for name, model in self.models.items()}
            for index, (frame, boxes) in enumerate(zip(batch, mains, strict=True)):
                found.append(bool(boxes))
                for name in self.models:
                    scores = per_model[name][index]
                    raw[name].append(scores[0] if scores else float("nan"))
                if boxes:
                    m = measure(frame, boxes[0])
                    quality.append((m.brightness, m.sharpness, m.overexposed, m.side))
                else:
                    quality.append((np.nan,) * 4)
        return found, raw, quality


def _cache_key(folder: Path, paths: Sequence[Path], settings: Settings) -> str:
    listing = "\n".join(str(p.relative_to(folder)) for p in paths)
    text = json.dumps([listing, MODELS, settings.models.face_detector, sorted(VARIANTS)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def score_set(folder: Path, scorer: Scorer, cache_dir: Path) -> SetScores:
    """Every picture of one frame set (and its genuine variants) scored, from cache if there."""
    data = load_labelled_set(folder)
    live_paths = [data.pictures[i] for i in data.labels.get("bona_fide", [])]
    attack_paths = [data.pictures[i] for i in data.labels.get("attack", [])]
    key = _cache_key(folder, [*live_paths, *attack_paths], scorer.settings)
    cached = cache_dir / f"{folder.name}-{key}.npz"
    if cached.exists():
        saved = np.load(cached, allow_pickle=False)
        return SetScores(folder.name, saved["live"], [str(v) for v in saved["variant"]],
                         saved["found"], {m: saved[f"raw_{m}"] for m in MODELS},
                         saved["quality"])
    runs: list[tuple[bool, str, list[Path], Callable[[Image], Image] | None]] = [
        (True, "", live_paths, None), (False, "", attack_paths, None)]
    if not folder.name.endswith(CROPS_SUFFIX):
        runs += [(True, name, live_paths, change) for name, change in VARIANTS.items()]
    live: list[bool] = []
    variant: list[str] = []
    found: list[bool] = []
    raw: dict[str, list[float]] = {m: [] for m in MODELS}
    quality: list[tuple[float, ...]] = []
    for is_live, name, paths, change in runs:
        log.info("scoring set=%s live=%s variant=%s frames=%d", folder.name, is_live,
                 name or "-", len(paths))
        run_found, run_raw, run_quality = scorer.score(_frames(paths, scorer.settings, change))
        live += [is_live] * len(paths)
        variant += [name] * len(paths)
        found += run_found
        quality += run_quality
        for m in MODELS:
            raw[m] += run_raw[m]
    result = SetScores(folder.name, np.array(live, dtype=bool), variant,
                       np.array(found, dtype=bool),
                       {m: np.array(raw[m], dtype=np.float64) for m in MODELS},
                       np.array(quality, dtype=np.float64).reshape(-1, 4))
    cache_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "live": result.live, "variant": np.array(variant, dtype=str), "found": result.found,
        "quality": result.quality, **{f"raw_{m}": result.raw[m] for m in MODELS}}
    np.savez(cached, allow_pickle=False, **arrays)
    return result
