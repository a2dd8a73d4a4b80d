"""Model outputs per frame, kept on disk so a second run (another policy) needs no model.

One SQLite file (``outputs.sqlite`` in the cache folder) maps a key to one half's output for
one frame: the face chain's :class:`FrameFaces` or the phone detector's
:class:`PhoneDetections`, as JSON. The key is the SHA-256 of:

- the frame file's SHA-256 and how it was prepared (``PREPARATION``: a webcam JPEG);
- the half (``face`` or ``phone``) and every setting that can change that half's output: all
  settings except those listed below as read only after the models ran (decision thresholds,
  the policy file, enrollment limits), folders (the weight files are pinned by their sha256 in
  the manifest) and the other half's plug-in settings.

So ``--compare liveness_threshold=0.3`` or a policy knob reuses every output, while another
plug-in or ``openvino_precision`` runs its models once. Each batch is committed as soon as it
is computed: an interrupted run keeps what it finished.
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
from vigil.core.settings import Settings

Half = Literal["face", "phone"]
CACHE_FORMAT = 2  # bump when the stored JSON or the preparation changes meaning
PREPARATION = "webcam 640x480 jpeg q60"  # vigil.apps.bench.accuracy.dataset.webcam_frames
# Read only after the models ran: changing them must not run the models again.
_AFTER_MODELS = frozenset({
    "liveness_threshold", "verify_threshold", "policy_file", "policy_check_interval_s",
    "enroll_min_face_size", "enroll_max_yaw", "enroll_min_sharpness", "log_level",
    "state_dir", "weights_dir", "weights_mirror", "model_cache_dir",
})
_PHONE_ONLY = ("phone_",)
_FACE_ONLY = ("face_", "liveness_", "yunet_", "embedder_", "celebaspoof_")


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def settings_digest(settings: Settings, half: Half) -> str:
    """The SHA-256 of the settings that can change ``half``'s output (module docstring)."""
    other = _FACE_ONLY if half == "phone" else _PHONE_ONLY
    kept = {k: v for k, v in settings.model_dump(mode="json").items()
            if k not in _AFTER_MODELS and not k.startswith(other)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def output_key(frame_digest: str, half: Half, settings_hash: str) -> str:
    """The cache key of one frame's output under one settings digest."""
    text = f"{CACHE_FORMAT}|{PREPARATION}|{half}|{settings_hash}|{frame_digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def _array(data: np.ndarray) -> str:
    return base64.b64encode(np.asarray(data, dtype=np.float32).tobytes()).decode()


def faces_to_json(found: FrameFaces) -> dict[str, Any]:
    """A face chain output as JSON (embeddings as base64 float32)."""
    return {"error": found.error, "faces": [
        {"box": list(f.box), "score": f.score, "landmarks": [list(p) for p in f.landmarks],
         "embedding": _array(f.embedding), "liveness": f.liveness,
         "quality": None if f.quality is None else list(astuple(f.quality))}
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
    return {"phone": found.phone,
            "phones": [{"box": list(p.box), "confidence": p.confidence, "label": p.label}
                       for p in found.phones]}


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
