"""The face processor: consumer group ``{ns}-face`` on ``frames``, FaceResult out.

Runs the face chain (detect -> embed -> liveness) on each batch and compares every face with
the client's enrolled embeddings. Enrolled embeddings are cached per client and dropped when a
``control`` event names the client (re-enrolled, blocked, ...), so a change is seen at once.
A ``model-activated`` event swaps the face detector or liveness model between two batches
(processors/model_swap.py); every result names the versions it ran with (``models``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

import numpy as np

from processors.batch import DecodedFrame, FrameStage, UnprocessedFrame, common_fields
from processors.model_swap import ActiveReader, ModelSwitcher, follow_control
from processors.triage import FrameTriage, SessionRegistry
from processors.vision.chain import FaceChain
from processors.vision.quality import FaceMeasure
from processors.vision.registry import load_versioned
from processors.vision.results import FrameFaces
from schemas.events import Box, ControlEvent, Face, FaceQuality, FaceResult, now_ms
from vigil.core import metrics
from vigil.core.embeddings import EmbeddingLoader, Embeddings
from vigil.core.kafka import group_name, make_producer
from vigil.core.settings import Settings
from vigil.core.stage_loop import LoopStage, StageLoop
from vigil.core.topics import FACE_RESULTS, FRAMES

log = logging.getLogger(__name__)

CACHE_TTL_S = 60.0  # a safety net: control events are the normal way entries go stale


class EnrolledCache:
    """Per-client enrolled embeddings, loaded on first use and dropped on control events."""

    def __init__(self, load: EmbeddingLoader, ttl_s: float = CACHE_TTL_S) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Embeddings | None]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Embeddings | None:
        with self._lock:
            entry = self._entries.get(client_id)
        if entry is not None and time.monotonic() - entry[0] < self._ttl_s:
            return entry[1]
        embeddings = self._load(client_id)
        with self._lock:
            self._entries[client_id] = (time.monotonic(), embeddings)
        return embeddings

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._entries.pop(client_id, None)


def watch_control(settings: Settings, cache: EnrolledCache, switcher: ModelSwitcher,
                  stop: threading.Event, active: ActiveReader | None = None) -> None:
    """Drop a client's cached embeddings whenever a control event names it, and swap models
    on activations (own thread)."""

    def forget(event: ControlEvent) -> None:
        cache.forget(event.client_id)
        log.info("control event=%s client_id=%s: enrolled embeddings reloaded on next frame",
                 event.kind, event.client_id)

    follow_control(settings, switcher, stop, active, forget)


def to_face_result(frame: DecodedFrame, found: FrameFaces, enrolled: Embeddings | None,
                   settings: Settings, device: str, processed_at: int,
                   models: Mapping[str, str]) -> FaceResult:
    """One frame's FaceResult: every face, with its distance to the nearest enrolled face."""
    faces = []
    for face in found.faces:
        distance = None
        if enrolled is not None and len(enrolled):
            distance = float(np.min(np.linalg.norm(enrolled - face.embedding, axis=1)))
        faces.append(Face(
            box=Box(x1=face.box[0], y1=face.box[1], x2=face.box[2], y2=face.box[3]),
            score=min(1.0, max(0.0, face.score)),
            landmarks=[(float(x), float(y)) for x, y in face.landmarks],
            liveness=min(1.0, max(0.0, face.liveness)),
            distance=distance,
            quality=face_quality(face.quality),
        ))
    main = faces[0] if faces else None  # the detector orders faces largest first
    return FaceResult(
        **common_fields(frame),
        processed_at=processed_at,
        faces=faces,
        live=bool(main is not None and main.liveness is not None
                  and main.liveness >= settings.liveness_threshold),
        match=bool(main is not None and main.distance is not None
                   and main.distance <= settings.verify_threshold),
        enrolled=enrolled is not None and len(enrolled) > 0,
        error=found.error,
        device=device,
        models=dict(models),
    )


def face_quality(measured: FaceMeasure | None) -> FaceQuality | None:
    """The chain's measure of a face as the event carries it."""
    if measured is None:
        return None
    return FaceQuality(brightness=min(255.0, max(0.0, measured.brightness)),
                       sharpness=max(0.0, measured.sharpness),
                       overexposed=min(1.0, max(0.0, measured.overexposed)),
                       side=measured.side)


def unprocessed_face_result(frame: UnprocessedFrame, device: str) -> FaceResult:
    """The FaceResult of a frame the face chain did not see (bad, stale, session ended)."""
    return FaceResult(
        **common_fields(frame),
        processed_at=now_ms(), live=False, match=False, enrolled=False, error=frame.error,
        device=device, unprocessed=frame.why,
    )


class FaceInference:
    """Frames in, FaceResult events out; the detector and liveness model hot-swappable."""

    def __init__(self, settings: Settings, cache: EnrolledCache,
                 names: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.chain = FaceChain.load(settings, names=names)
        self.cache = cache
        self.device = self.chain.device.kind
        self.switcher = ModelSwitcher(
            "face", ("face_detector", "liveness_model"), self.chain.versions,
            lambda role, name: load_versioned(role, settings, self.chain.device, name),
            self.chain.install)
        metrics.DEVICE.labels("face", self.device).set(1)

    def __call__(self, frames: list[DecodedFrame]) -> list[FaceResult]:
        models = self.switcher.between_batches()
        found = self.chain.run([f.image for f in frames])
        processed = now_ms()
        return [
            to_face_result(frame, faces, self.cache.get(frame.headers.client_id),
                           self.settings, self.device, processed, models)
            for frame, faces in zip(frames, found, strict=True)
        ]


def face_loop(settings: Settings, load_embeddings: EmbeddingLoader,
              stop: threading.Event | None = None,
              active: ActiveReader | None = None) -> tuple[StageLoop, str]:
    """The face stage's consumer loop (and its control watcher thread), and its device.

    ``active`` reads the activations of the user database (processors/model_activation.py);
    without it the settings choose the plug-ins until a control event activates another."""
    stop = stop or threading.Event()
    cache = EnrolledCache(load_embeddings)
    infer = FaceInference(settings, cache, active() if active is not None else None)
    threading.Thread(target=watch_control, args=(settings, cache, infer.switcher, stop, active),
                     name="control-watch", daemon=True).start()
    stage = FrameStage(settings, "face", FACE_RESULTS, infer,
                       lambda f: unprocessed_face_result(f, infer.device),
                       make_producer(settings), FrameTriage(settings, SessionRegistry(settings)))
    loop = StageLoop(settings, "face", [FRAMES.name(settings)], group_name(settings, "face"),
                     stage.handle, batch_size=settings.face_batch_size,
                     batch_deadline_s=settings.batch_deadline_ms / 1000, stop=stop)
    return loop, infer.device


def build(settings: Settings) -> LoopStage:
    """The stage table's builder (vigil/core/stages.py)."""
    from control.users.embeddings import enrolled_embeddings_loader
    from processors.model_activation import active_models_reader

    loop, device = face_loop(settings, enrolled_embeddings_loader(settings),
                             active=active_models_reader(settings))
    return LoopStage(loop, device=device)
