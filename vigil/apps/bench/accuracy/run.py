"""Run one alternative's models over the frames, through the processors' own code.

The face half is what ``processors.face.FaceInference`` does (the face chain on a batch, then
:func:`processors.face.to_face_result` per frame), the phone half what
``processors.phone.PhoneInference`` does (the detector, then
:func:`processors.phone.to_phone_result`). Batches are ``face_batch_size`` and
``phone_batch_size`` frames, as the processors poll them.

For the liveness and phone rates the enrolled user is the frame's own main face (an attacker
presents the enrolled user's face), so the policy reaches its liveness and phone checks; the
verification rates enroll another picture's face instead (:func:`face_result_against`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from processors.batch import DecodedFrame
from processors.face import to_face_result
from processors.phone import to_phone_result
from processors.vision.base import batches
from processors.vision.imaging import Image
from processors.vision.results import FrameFaces, PhoneDetections
from schemas.events import FaceResult, PhoneResult, now_ms
from vigil.apps.bench.accuracy.alternatives import Pipeline
from vigil.core.template import Template


@dataclass(frozen=True)
class FrameOutcome:
    """One frame through one alternative: what each model half found, and both results."""

    frame: DecodedFrame
    found: FrameFaces
    face: FaceResult  # enrolled = the frame's own main face
    phone: PhoneResult
    phones: PhoneDetections  # the detector's own output, whole (the session bench keeps it)


@dataclass(frozen=True)
class AlternativeRun:
    """Every frame's outcome, and the milliseconds per frame of each half."""

    pipeline: Pipeline
    outcomes: list[FrameOutcome]
    face_ms: float
    phone_ms: float


R = TypeVar("R")  # what a plug-in returns per frame

def face_result_against(pipeline: Pipeline, outcome: FrameOutcome,
                        enrolled: np.ndarray | None) -> FaceResult:
    """The frame's FaceResult had ``enrolled`` (k x 512) been the client's enrollment."""
    template = None if enrolled is None else Template(enrolled)
    return to_face_result(outcome.frame, outcome.found, template, pipeline.settings,
                          pipeline.chain.device.kind, outcome.face.processed_at,
                          outcome.face.models)


def _own_face(found: FrameFaces) -> Template | None:
    return Template(found.faces[0].embedding[None, :]) if found.faces else None


def _timed(infer: Callable[[Sequence[Image]], list[R]], runs: Sequence[Sequence[Image]],
           bar: tqdm) -> tuple[list[R], float]:
    """Every run's results in order, and the seconds ``infer`` took over all of them."""
    results: list[R] = []
    seconds = 0.0
    for run in runs:
        began = time.perf_counter()
        results.extend(infer(run))
        seconds += time.perf_counter() - began
        bar.update(len(run))
    return results, seconds


def run_alternative(pipeline: Pipeline, frames: Sequence[DecodedFrame],
                    label: str) -> AlternativeRun:
    """Run the face chain and the phone detector over every frame in processor batches."""
    settings = pipeline.settings
    device = pipeline.chain.device.kind
    # One bar over both halves: each frame is counted once by the chain, once by the phone.
    with tqdm(total=2 * len(frames), desc=label, unit="frame", file=sys.stderr,
              leave=False) as bar:
        images = [f.image for f in frames]
        found, face_s = _timed(
            pipeline.chain.run, batches(images, settings.processors.face_batch_size), bar
        )
        phones, phone_s = _timed(pipeline.phone.infer,
                                 batches(images, settings.processors.phone_batch_size), bar)
    processed = now_ms()
    # The alternatives' results stay in this bench: the alternative's label names its models.
    outcomes = [
        FrameOutcome(frame, faces,
                     to_face_result(frame, faces, _own_face(faces), settings, device, processed,
                                    {}),
                     to_phone_result(frame, phone, device, processed, {}), phone)
        for frame, faces, phone in zip(frames, found, phones, strict=True)
    ]
    per_frame = 1000.0 / max(1, len(frames))
    return AlternativeRun(pipeline, outcomes, face_s * per_frame, phone_s * per_frame)
