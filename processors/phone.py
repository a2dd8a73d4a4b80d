"""The phone processor: consumer group ``{ns}-phone`` on ``frames``, PhoneResult out.

Runs the configured phone detector (COCO class 67) on each batch of frames.
"""

from __future__ import annotations

import logging
import threading
from typing import cast

from processors.batch import DecodedFrame, FrameStage, UnprocessedFrame, common_fields
from processors.triage import FrameTriage, SessionRegistry
from processors.vision.base import FramePlugin
from processors.vision.device import select_device
from processors.vision.registry import load_plugin, uses_torch
from processors.vision.results import PhoneDetections
from schemas.events import Box, PhoneDetection, PhoneResult, now_ms
from vigil.core import metrics
from vigil.core.kafka import group_name, make_producer
from vigil.core.settings import Settings
from vigil.core.stage_loop import LoopStage, StageLoop
from vigil.core.topics import FRAMES, PHONE_RESULTS

log = logging.getLogger(__name__)


def to_phone_result(frame: DecodedFrame, found: PhoneDetections, device: str,
                    processed_at: int) -> PhoneResult:
    """One frame's PhoneResult: every phone box the detector reported, and its verdict."""
    return PhoneResult(
        **common_fields(frame),
        processed_at=processed_at,
        phones=[PhoneDetection(box=Box(x1=p.box[0], y1=p.box[1], x2=p.box[2], y2=p.box[3]),
                               confidence=p.confidence)
                for p in found.phones],
        phone=found.phone,
        device=device,
    )


class PhoneInference:
    """Frames in, PhoneResult events out."""

    def __init__(self, settings: Settings) -> None:
        device = select_device(settings, uses_torch("phone_detector", settings))
        self.detector = cast(FramePlugin[PhoneDetections],
                             load_plugin("phone_detector", settings, device))
        self.device = device.kind
        metrics.DEVICE.labels("phone", self.device).set(1)

    def __call__(self, frames: list[DecodedFrame]) -> list[PhoneResult]:
        detections = self.detector.infer([f.image for f in frames])
        processed = now_ms()
        return [to_phone_result(frame, found, self.device, processed)
                for frame, found in zip(frames, detections, strict=True)]


def unprocessed_phone_result(frame: UnprocessedFrame, device: str) -> PhoneResult:
    """The PhoneResult of a frame the detector did not see (bad, stale, session ended)."""
    return PhoneResult(
        **common_fields(frame),
        processed_at=now_ms(), phone=False, error=frame.error, device=device,
        unprocessed=frame.why,
    )


def phone_loop(settings: Settings,
               stop: threading.Event | None = None) -> tuple[StageLoop, str]:
    """The phone stage's consumer loop, ready to run, and its device."""
    infer = PhoneInference(settings)
    stage = FrameStage(settings, "phone", PHONE_RESULTS, infer,
                       lambda f: unprocessed_phone_result(f, infer.device),
                       make_producer(settings), FrameTriage(settings, SessionRegistry(settings)))
    loop = StageLoop(settings, "phone", [FRAMES.name(settings)], group_name(settings, "phone"),
                     stage.handle, batch_size=settings.phone_batch_size,
                     batch_deadline_s=settings.batch_deadline_ms / 1000,
                     stop=stop or threading.Event())
    return loop, infer.device


def build(settings: Settings) -> LoopStage:
    """The stage table's builder (vigil/core/stages.py)."""
    loop, device = phone_loop(settings)
    return LoopStage(loop, device=device)
