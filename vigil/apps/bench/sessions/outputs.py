"""Model outputs for session frames and enrollment photos, through the processors' own code.

Session frames are prepared as a webcam client sends them and run through the face chain and
the phone detector in processor batches by :func:`vigil.apps.bench.accuracy.run.run_alternative`
(the code `vigil bench accuracy` runs); enrollment photos go through
:func:`processors.enroll.analyze_photos`, the code of `vigil enroll`. Both read and fill the
output cache (cache.py), and the models load only when a frame is missing from it.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from processors.enroll import EnrollmentReport, Image, QualityLimits, analyze_photos
from processors.phone_reuse import Thumbnail, thumbnail
from processors.scene_motion import Grey, grey_copy
from processors.vision.device import select_device
from processors.vision.imaging import read_image
from processors.vision.results import FrameFaces, PhoneDetections
from vigil.apps.bench.accuracy.alternatives import ModelCache, Pipeline
from vigil.apps.bench.accuracy.dataset import webcam_frames
from vigil.apps.bench.accuracy.run import run_alternative
from vigil.apps.bench.sessions.cache import (
    OutputCache,
    faces_from_json,
    faces_to_json,
    file_digest,
    output_key,
    phones_from_json,
    phones_to_json,
    settings_digest,
)
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

CHUNK_FRAMES = 128  # frames decoded and run at a time (about 120 MB of pixels)


@dataclass(frozen=True)
class FrameOutputs:
    """What the models made of one frame: the face chain's faces and the phone boxes; with
    phone reuse on, the frame's thumbnail too (the phone stage's gate compares them); with
    the scene measure on, its grey copy and size (the face stage's tracker compares them)."""

    faces: FrameFaces
    phones: PhoneDetections
    thumb: Thumbnail | None = None
    grey: Grey | None = None
    size: tuple[int, int] = (0, 0)  # the frame's width and height


class LazyModels:
    """The alternatives' models, loaded (once, shared) the first time a frame needs them."""

    def __init__(self, base: Settings) -> None:
        self._base = base
        self._cache: ModelCache | None = None

    def pipeline(self, settings: Settings) -> Pipeline:
        if self._cache is None:
            self._cache = ModelCache(select_device(self._base))
        return self._cache.pipeline(settings)


class FrameOutputSource:
    """Model outputs of one alternative's settings, from the cache or from the models."""

    def __init__(self, settings: Settings, models: LazyModels, cache: OutputCache,
                 label: str) -> None:
        self.settings = settings
        self.models = models
        self.cache = cache
        self.label = label
        self.face_hash = settings_digest(settings, "face")
        self.phone_hash = settings_digest(settings, "phone")
        self._digests: dict[Path, str] = {}

    def _digest(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = file_digest(path)
        return self._digests[path]

    def frames(self, paths: Sequence[Path]) -> dict[Path, FrameOutputs]:
        """Every frame's outputs; frames missing from the cache run through the models."""
        digests = {p: self._digest(p) for p in paths}
        keys = {p: (output_key(d, "face", self.face_hash), output_key(d, "phone",
                                                                       self.phone_hash))
                for p, d in digests.items()}
        stored = self.cache.get(k for pair in keys.values() for k in pair)
        missing = sorted({p for p, (fk, pk) in keys.items()
                          if fk not in stored or pk not in stored},
                         key=lambda p: digests[p])
        unique = list({digests[p]: p for p in missing}.values())  # identical files run once
        if unique:
            stored.update(self._run(unique, keys))
        threshold = self.settings.models.liveness_threshold
        pixels = self._pixels(paths)
        return {p: FrameOutputs(faces_from_json(stored[fk], threshold),
                                phones_from_json(stored[pk]), *pixels.get(p, (None, None, (0, 0))))
                for p, (fk, pk) in keys.items()}

    def _pixels(self, paths: Sequence[Path]
                ) -> dict[Path, tuple[Thumbnail | None, Grey | None, tuple[int, int]]]:
        """What the stages' per-client state keeps of each frame (from the frame a webcam
        client sends): with phone reuse on, the phone stage's thumbnail; with the scene
        measure on, the face stage's grey copy. Nothing when both are off."""
        p = self.settings.processors
        thumbs, greys = bool(p.phone_reuse_max_gap_ms), bool(p.scene_motion_max_gap_ms)
        if not thumbs and not greys:
            return {}
        kept = {}
        for start in range(0, len(paths), CHUNK_FRAMES):
            chunk = paths[start:start + CHUNK_FRAMES]
            frames = webcam_frames(chunk, self.settings.models.max_image_pixels)
            kept.update({path: (thumbnail(f.image) if thumbs else None,
                                grey_copy(f.image) if greys else None,
                                (f.image.shape[1], f.image.shape[0]))
                         for path, f in zip(chunk, frames, strict=True)})
        return kept

    def _run(self, paths: list[Path], keys: dict[Path, tuple[str, str]]
             ) -> dict[str, dict[str, Any]]:
        """Run the models over ``paths`` a chunk at a time (decoded frames take memory), each
        chunk stored as soon as it is done."""
        log.info("sessions: %d frames not in the cache, running the models of %s",
                 len(paths), self.label)
        pipeline = self.models.pipeline(self.settings)
        values: dict[str, dict[str, Any]] = {}
        with tqdm(total=len(paths), desc=f"models {self.label}", unit="frame",
                  file=sys.stderr) as bar:
            for start in range(0, len(paths), CHUNK_FRAMES):
                chunk = paths[start:start + CHUNK_FRAMES]
                frames = webcam_frames(chunk, self.settings.models.max_image_pixels)
                run = run_alternative(pipeline, frames, self.label)
                done: dict[str, dict[str, Any]] = {}
                for path, outcome in zip(chunk, run.outcomes, strict=True):
                    face_key, phone_key = keys[path]
                    done[face_key] = faces_to_json(outcome.found)
                    done[phone_key] = phones_to_json(outcome.phones)
                self.cache.put(done)
                values.update(done)
                bar.update(len(chunk))
        return values

    def enrollment(self, photos: Sequence[Path]) -> EnrollmentReport:
        """`vigil enroll`'s checks and embeddings for these photos (nothing stored)."""
        read = lambda p: read_image(p, max_pixels=self.settings.models.max_image_pixels)  # noqa: E731
        return analyze_photos(_CachedAnalyzer(self), read, photos,
                              QualityLimits.from_settings(self.settings))


class _CachedAnalyzer:
    """The face chain as enrollment calls it (processors.enroll.FaceAnalyzer), through the cache.

    Enrollment photos are read as `vigil enroll` reads them (no webcam preparation), so their
    key is the SHA-256 of the decoded pixels."""

    def __init__(self, source: FrameOutputSource) -> None:
        self.source = source

    def run(self, frames: Sequence[Image]) -> list[FrameFaces]:
        source = self.source
        keys = [output_key("enroll-pixels:" + hashlib.sha256(
            np.ascontiguousarray(f).tobytes() + str(f.shape).encode()).hexdigest(), "face",
            source.face_hash) for f in frames]
        stored = source.cache.get(keys)
        todo = [i for i, k in enumerate(keys) if k not in stored]
        if todo:
            chain = source.models.pipeline(source.settings).chain
            found = chain.run([frames[i] for i in todo])
            fresh = {keys[i]: faces_to_json(f) for i, f in zip(todo, found, strict=True)}
            source.cache.put(fresh)
            stored.update(fresh)
        threshold = source.settings.models.liveness_threshold
        return [faces_from_json(stored[k], threshold) for k in keys]
