"""The face chain: detect -> embed -> liveness for every face of a batch of frames.

The face processor and the enrollment command call this. Detection runs once over the batch
(same-size frames stacked), then the embedder and the liveness models each run once over all
faces of all frames, so a batch of 32 frames costs three model passes, not 96.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np

from processors.vision.base import FacePlugin, FramePlugin, LivenessPlugin
from processors.vision.calibration import LivenessCalibration, load_calibration
from processors.vision.device import DeviceChoice, select_device
from processors.vision.imaging import BadImageError, Image, content_bounds, decode_frame
from processors.vision.quality import measure
from processors.vision.registry import LoadedPlugin, Role, load_versioned, uses_torch
from processors.vision.results import AnalyzedFace, BoxXYXY, FaceDetections, FrameFaces
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

ROLES: tuple[Role, ...] = ("face_detector", "face_embedder", "liveness_model")


class FaceChain:
    """Loaded face detector, embedder and liveness models, run as one batched chain."""

    def __init__(self, settings: Settings, detector: FramePlugin[FaceDetections],
                 embedder: FacePlugin[np.ndarray], liveness: LivenessPlugin,
                 device: DeviceChoice, versions: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.detector = detector
        self.embedder = embedder
        self.liveness = liveness
        self.device = device
        self.versions = dict(versions or {})  # role -> plug-in@digest (registry.load_versioned)
        self._calibration: LivenessCalibration | None = None

    @classmethod
    def load(cls, settings: Settings, device: DeviceChoice | None = None,
             names: Mapping[str, str] | None = None) -> FaceChain:
        """Choose the device (unless given), then load and warm up the three plug-ins: the
        configured ones, or the ones ``names`` gives by role. torch is imported only when
        one of them runs on it."""
        names = names or {}
        device = device or select_device(
            settings, any(uses_torch(role, settings, names.get(role)) for role in ROLES))
        loaded = {role: load_versioned(role, settings, device, names.get(role))
                  for role in ROLES}
        return cls(
            settings,
            cast(FramePlugin[FaceDetections], loaded["face_detector"].plugin),
            cast(FacePlugin[np.ndarray], loaded["face_embedder"].plugin),
            cast(LivenessPlugin, loaded["liveness_model"].plugin),
            device,
            {role: found.version for role, found in loaded.items()},
        )

    def calibration(self) -> LivenessCalibration:
        """The liveness calibration file the settings name, read once."""
        if self._calibration is None:
            self._calibration = load_calibration(self.settings.models.liveness_calibration_file)
        return self._calibration

    def install(self, role: Role, loaded: LoadedPlugin) -> None:
        """Put a loaded plug-in in service for ``role`` (the caller runs no batch meanwhile)."""
        if role == "face_detector":
            self.detector = cast(FramePlugin[FaceDetections], loaded.plugin)
        elif role == "liveness_model":
            self.liveness = cast(LivenessPlugin, loaded.plugin)
        else:
            raise ValueError(f"the face chain does not swap its {role}")
        self.versions[role] = loaded.version

    def run(self, frames: Sequence[Image]) -> list[FrameFaces]:
        """Every face of every frame with box, score, landmarks, embedding and liveness."""
        detections = self.detector.infer(frames)
        boxes: list[list[BoxXYXY]] = [[f.box for f in d.faces] for d in detections]
        # The embedder gets the whole faces: ArcFace-family ones align by the landmarks.
        embeddings = self.embedder.infer_faces(frames, [d.faces for d in detections])
        # The letterbox bars, found once per frame: every liveness model and the quality
        # gate crop or measure inside them.
        bounds = [content_bounds(frame) for frame in frames]
        scores = self.liveness.score(frames, bounds, boxes)
        if self.settings.models.liveness_calibrated and self.liveness.name != "ensemble":
            # The ensemble calibrates each member itself, before combining them.
            calibration = self.calibration()
            scores = [[float(v) for v in calibration.calibrate(self.liveness.name, s)]
                      for s in scores]
        threshold = self.settings.models.liveness_threshold
        results = []
        for frame, frame_bounds, found, frame_embeddings, frame_scores in zip(
                frames, bounds, detections, embeddings, scores, strict=True):
            results.append(FrameFaces(tuple(
                AnalyzedFace(face.box, face.score, face.landmarks, emb, score,
                             score >= threshold, measure(frame, face.box, frame_bounds))
                for face, emb, score in zip(found.faces, frame_embeddings, frame_scores,
                                            strict=True)
            )))
        return results

    def run_encoded(self, images: Sequence[bytes], *, require_jpeg: bool = True
                    ) -> list[FrameFaces]:
        """Decode then run; a bad image gets a result with ``error`` set, the rest go on."""
        decoded: list[Image] = []
        positions: list[int] = []
        results = [FrameFaces() for _ in images]
        for index, data in enumerate(images):
            try:
                decoded.append(decode_frame(data, max_pixels=self.settings.models.max_image_pixels,
                                            require_jpeg=require_jpeg))
                positions.append(index)
            except BadImageError as exc:
                log.info("bad image index=%d code=%s", index, exc.code)
                results[index] = FrameFaces(error=str(exc))
        for index, result in zip(positions, self.run(decoded), strict=True):
            results[index] = result
        return results


def l2_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L2 distance between two unit embeddings (same person when <= verify_threshold)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, np.float32)))
