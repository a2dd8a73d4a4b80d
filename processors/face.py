"""The face processor's inference: a model stage (processors/model_stage.py) on ``frames``,
FaceResult out (the face entry of vigil/core/flow.py).

Runs the face chain (detect -> embed -> liveness) on each batch and compares every face with
the client's enrolled embeddings; the result carries the client's own verify threshold from
its template (control/users/thresholds.py), which ``match`` and the decide stage use. Enrolled
templates are cached per client and dropped when a ``control`` event names the client
(re-enrolled, blocked, ...), so a change is seen at once.
Each result also says how the main face moved against the scene around it since the
client's last frame (processors/scene_motion.py: per-client state, in memory).
A ``model-activated`` event swaps the face detector or liveness model between two batches
(processors/model_swap.py); every result names the versions it ran with (``models``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

import numpy as np

from processors.batch import DecodedFrame, UnprocessedFrame, common_fields
from processors.model_stage import ModelStage
from processors.model_swap import ModelSwitcher
from processors.scene_motion import SceneTracker, grey_copy, with_scene
from processors.verdict import is_live, is_match, main_face
from processors.vision.chain import FaceChain
from processors.vision.quality import FaceMeasure
from processors.vision.registry import load_versioned
from processors.vision.results import FrameFaces
from schemas.events import Box, ControlEvent, Face, FaceQuality, FaceResult, now_ms
from vigil.core import metrics
from vigil.core.embeddings import EmbeddingLoader
from vigil.core.flow import FACE_STAGE
from vigil.core.flow_types import Stage, StageIO
from vigil.core.settings import Settings
from vigil.core.template import Template, embedder_mismatch

log = logging.getLogger(__name__)

CACHE_TTL_S = 60.0  # a safety net: control events are the normal way entries go stale


class EnrolledCache:
    """Per-client enrolled templates, loaded on first use and dropped on control events."""

    def __init__(self, load: EmbeddingLoader, ttl_s: float = CACHE_TTL_S) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Template | None]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Template | None:
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


def to_face_result(frame: DecodedFrame, found: FrameFaces, template: Template | None,
                   settings: Settings, device: str, processed_at: int,
                   models: Mapping[str, str]) -> FaceResult:
    """One frame's FaceResult: every face, with its distance to the nearest enrolled face.

    A template another embedder made (vigil/core/template.py) is not compared: the result
    carries the error (decide: ``incomplete``) saying to enroll the client again."""
    enrolled = None if template is None else template.embeddings
    error = found.error
    if template is not None and found.faces:
        mismatch = embedder_mismatch(template, models.get("face_embedder", ""),
                                     len(found.faces[0].embedding))
        if mismatch is not None:
            log.warning("template mismatch client_id=%s: %s", frame.headers.client_id,
                        mismatch)
            enrolled, error = None, error or mismatch
    # A person's own threshold only tightens the one in force: a template enrolled when the
    # global threshold was looser keeps no looser bar than it (docs/identity.md).
    own = None if template is None or template.threshold is None else min(
        template.threshold, settings.models.verify)
    threshold = settings.models.verify if own is None else own
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
    main = main_face(faces)
    return FaceResult(
        **common_fields(frame),
        processed_at=processed_at,
        faces=faces,
        live=is_live(main, settings.models.liveness_threshold),
        match=is_match(main, threshold),
        enrolled=enrolled is not None and len(enrolled) > 0,
        verify_threshold=own,
        error=error,
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
                       side=measured.side, fill=max(0.0, measured.fill))


class FaceInference:
    """Frames in, FaceResult events out; the detector and liveness model hot-swappable."""

    def __init__(self, settings: Settings, cache: EnrolledCache,
                 names: Mapping[str, str] | None = None, stage: str = FACE_STAGE.name) -> None:
        self.settings = settings
        self.chain = FaceChain.load(settings, names=names)
        self.cache = cache
        self.scene = SceneTracker.from_settings(settings)
        self.device = self.chain.device.kind
        self.switcher = ModelSwitcher(
            stage, ("face_detector", "liveness_model"), self.chain.versions,
            lambda role, name: load_versioned(role, settings, self.chain.device, name),
            self.chain.install)
        metrics.DEVICE.labels(stage, self.device).set(1)

    def unprocessed(self, frame: UnprocessedFrame) -> FaceResult:
        """The FaceResult of a frame the face chain did not see (bad, stale, session ended)."""
        return FaceResult(
            **common_fields(frame),
            processed_at=now_ms(), live=False, match=False, enrolled=False, error=frame.error,
            device=self.device, unprocessed=frame.why,
        )

    def on_client_event(self, event: ControlEvent) -> None:
        """Drop the client's cached embeddings: re-enrolled, blocked ... (control follower)."""
        self.cache.forget(event.client_id)
        log.info("control event=%s client_id=%s: enrolled embeddings reloaded on next frame",
                 event.kind, event.client_id)

    def __call__(self, frames: list[DecodedFrame]) -> list[FaceResult]:
        models = self.switcher.between_batches()
        found = self.chain.run([f.image for f in frames])
        processed = now_ms()
        # In batch order, which is each client's frame order (a client is one partition).
        results = [
            to_face_result(frame, faces, self.cache.get(frame.headers.client_id),
                           self.settings, self.device, processed, models)
            for frame, faces in zip(frames, found, strict=True)
        ]
        if not self.scene.enabled:
            return results
        return [with_scene(self.scene, result, grey_copy(frame.image),
                           (frame.image.shape[1], frame.image.shape[0]))
                for frame, result in zip(frames, results, strict=True)]


def build(entry: Stage, settings: Settings, io: StageIO) -> ModelStage[FaceResult]:
    """The flow table's builder: the face chain in the model stage."""
    from control.users.embeddings import enrolled_embeddings_loader
    from processors.model_activation import active_models_reader

    active = active_models_reader(settings)
    cache = EnrolledCache(enrolled_embeddings_loader(settings))
    infer = FaceInference(settings, cache, active(), stage=entry.name)
    return ModelStage(entry, settings, infer, io, active)
