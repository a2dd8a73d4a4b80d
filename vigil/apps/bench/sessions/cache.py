"""Model outputs per frame, kept on disk so a second run (another policy) needs no model.

One SQLite file (``outputs.sqlite`` in the cache folder) maps a key to one half's output for
one frame: the face chain's :class:`FrameFaces` or the phone detector's
:class:`PhoneDetections`, as JSON. The key is the SHA-256 of:

- the frame file's SHA-256 and how it was prepared (``PREPARATION``: a webcam JPEG);
- the half (``face`` or ``phone``) and the values of ``MODEL_SETTINGS[half]``: the settings
  the plug-ins, the device choice and the frame preparation read (a test keeps the list
  whole: every ``settings.X`` read under processors/vision/ is in it or in ``NOT_MODEL``).

So ``--compare liveness_threshold=0.3``, a policy knob or a setting added elsewhere reuses
every output, while another plug-in or ``openvino_precision`` runs its models once. Weight
files are named by settings and pinned by their sha256 in the manifest. Each batch is
committed as soon as it is computed: an interrupted run keeps what it finished.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import Any, Literal

import numpy as np

from processors.vision.quality import FaceMeasure
from processors.vision.results import (
    PHONE_LABEL,
    AnalyzedFace,
    FrameFaces,
    PhoneBox,
    PhoneDetections,
)
from vigil.core.settings import Settings, flat_names

Half = Literal["face", "phone"]
CACHE_FORMAT = 3  # bump when the stored JSON or the preparation changes meaning (3: the
#                   face's quality carries its fill, processors/vision/quality.py)
PREPARATION = "webcam 640x480 jpeg q60"  # vigil.apps.bench.accuracy.dataset.webcam_frames
# Settings read by both halves: the device, threads, precision, and the frame preparation.
_BOTH = ("device", "cuda_min_free_mb", "inference_threads", "openvino_precision",
         "max_image_pixels")
MODEL_SETTINGS: dict[Half, tuple[str, ...]] = {
    "face": (*_BOTH, "face_detector", "face_embedder", "int8_calibration_faces",
             "liveness_model", "liveness_ensemble", "liveness_combine", "liveness_calibrated",
             "liveness_calibration_file", "liveness_precision",
             "face_min_size", "face_detect_threshold", "embedder_weights",
             "liveness_weights", "yunet_weights", "yunet_max_side", "celebaspoof_weights",
             "celebaspoof_int8_weights", "face_batch_size"),
    "phone": (*_BOTH, "phone_detector", "phone_views", "phone_rect_input", "phone_threshold",
              "phone_cascade_floor", "phone_tile_alone",
              "phone_openvino_model", "phone_weights", "phone_inference_threads",
              "phone_batch_size"),
}
# Read under processors/vision/ but not changing an output: thresholds applied afterwards
# (the chain's ``live`` flag is recomputed when read back), where files live, how threads wait.
NOT_MODEL = frozenset({"liveness_threshold", "verify_threshold", "state_dir", "weights_mirror",
                       "weights.path", "weights.model_cache_path", "omp_wait_policy",
                       "batch_deadline_ms"})  # weights.path(), model_cache_path(): where files are


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def settings_digest(settings: Settings, half: Half) -> str:
    """The SHA-256 of the settings that can change ``half``'s output (module docstring),
    each named by its flat name (VIGIL_ without the prefix) and read from its area."""
    places = flat_names()
    values = {}
    for name in MODEL_SETTINGS[half]:
        area, field = places[name]
        values[name] = getattr(settings, area).model_dump(mode="json", include={field})[field]
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def output_key(frame_digest: str, half: Half, settings_hash: str) -> str:
    """The cache key of one frame's output under one settings digest."""
    text = f"{CACHE_FORMAT}|{PREPARATION}|{half}|{settings_hash}|{frame_digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def _floats(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values]


def _array(data: np.ndarray) -> str:
    return base64.b64encode(np.asarray(data, dtype=np.float32).tobytes()).decode()


def faces_to_json(found: FrameFaces) -> dict[str, Any]:
    """A face chain output as JSON (embeddings as base64 float32; numbers made plain floats,
    since plug-ins may hand back numpy scalars)."""
    return {"error": found.error, "faces": [
        {"box": _floats(f.box), "score": float(f.score),
         "landmarks": [_floats(p) for p in f.landmarks], "embedding": _array(f.embedding),
         "liveness": float(f.liveness),
         "quality": None if f.quality is None else _floats(astuple(f.quality))}
        for f in found.faces]}


def faces_from_json(raw: dict[str, Any], liveness_threshold: float) -> FrameFaces:
    """The face chain output back; ``live`` recomputed at today's threshold."""
    faces = tuple(
        AnalyzedFace(tuple(f["box"]), float(f["score"]),
                     tuple((float(x), float(y)) for x, y in f["landmarks"]),
                     np.frombuffer(base64.b64decode(f["embedding"]), dtype=np.float32).copy(),
                     float(f["liveness"]), float(f["liveness"]) >= liveness_threshold,
                     None if f.get("quality") is None else FaceMeasure(*f["quality"]))
        for f in raw["faces"])
    return FrameFaces(faces, raw["error"])


def phones_to_json(found: PhoneDetections) -> dict[str, Any]:
    """A phone detector output as JSON."""
    return {"phone": bool(found.phone),
            "phones": [{"box": _floats(p.box), "confidence": float(p.confidence),
                        "label": p.label} for p in found.phones]}


def phones_from_json(raw: dict[str, Any]) -> PhoneDetections:
    """The phone detector output back."""
    return PhoneDetections(
        tuple(PhoneBox(tuple(p["box"]), float(p["confidence"]),
                       str(p.get("label", PHONE_LABEL)))
              for p in raw["phones"]), bool(raw["phone"]))


class OutputCache:
    """The SQLite file of model outputs (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "outputs.sqlite"
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, "
                         "value TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    def get(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored outputs of those keys that are stored; counts hits and misses."""
        wanted = list(keys)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound on query parameters
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, value FROM outputs WHERE key IN ({marks})",
                                    chunk)
            found.update((key, json.loads(value)) for key, value in rows)
        self.hits += len(found)
        self.misses += len(set(wanted) - found.keys())
        return found

    def put(self, values: dict[str, dict[str, Any]]) -> None:
        """Store outputs and commit at once."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in values.items()])

    def close(self) -> None:
        self._db.close()
