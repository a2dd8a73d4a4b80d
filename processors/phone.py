"""The phone processor: consumer group ``{ns}-phone`` on ``frames``, PhoneResult out.

Runs the configured phone detector (COCO class 67) on each batch of frames. A
``model-activated`` event swaps it between two batches (processors/model_swap.py); every
result names the version it ran with (``models``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Literal, cast

from processors.batch import DecodedFrame, FrameStage, UnprocessedFrame, common_fields
from processors.model_swap import ActiveReader, ModelSwitcher, follow_control
from processors.triage import FrameTriage, SessionRegistry
from processors.vision.base import FramePlugin
from processors.vision.device import select_device
from processors.vision.registry import LoadedPlugin, Role, load_versioned, uses_torch
from processors.vision.results import PhoneDetections
from schemas.events import Box, PhoneDetection, PhoneResult, now_ms
from vigil.core import metrics
from vigil.core.kafka import group_name, make_producer
from vigil.core.settings import Settings
from vigil.core.stage_loop import LoopStage, StageLoop
from vigil.core.topics import FRAMES, PHONE_RESULTS

log = logging.getLogger(__name__)


def to_phone_result(frame: DecodedFrame, found: PhoneDetections, device: str,
                    processed_at: int, models: Mapping[str, str]) -> PhoneResult:
    """One frame's PhoneResult: every phone box the detector reported, and its verdict."""
    return PhoneResult(
        **common_fields(frame),
        processed_at=processed_at,
        phones=[PhoneDetection(box=Box(x1=p.box[0], y1=p.box[1], x2=p.box[2], y2=p.box[3]),
                               confidence=p.confidence,
                               label=cast(Literal["cell phone", "tv", "laptop"], p.label))
                for p in found.phones],
        phone=found.phone,
        device=device,
        models=dict(models),
    )


class PhoneInference:
    """Frames in, PhoneResult events out; the detector hot-swappable."""

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        device = select_device(settings, uses_torch("phone_detector", settings))
        loaded = load_versioned("phone_detector", settings, device, name)
        self.detector = cast(FramePlugin[PhoneDetections], loaded.plugin)
        self.device = device.kind
        self.switcher = ModelSwitcher(
            "phone", ("phone_detector",), {"phone_detector": loaded.version},
            lambda role, name: load_versioned(role, settings, device, name), self._install)
        metrics.DEVICE.labels("phone", self.device).set(1)

    def _install(self, _role: Role, loaded: LoadedPlugin) -> None:
        self.detector = cast(FramePlugin[PhoneDetections], loaded.plugin)

    def __call__(self, frames: list[DecodedFrame]) -> list[PhoneResult]:
        models = self.switcher.between_batches()
        detections = self.detector.infer([f.image for f in frames])
        processed = now_ms()
        return [to_phone_result(frame, found, self.device, processed, models)
                for frame, found in zip(frames, detections, strict=True)]


def unprocessed_phone_result(frame: UnprocessedFrame, device: str) -> PhoneResult:
    """The PhoneResult of a frame the detector did not see (bad, stale, session ended)."""
    return PhoneResult(
        **common_fields(frame),
        processed_at=now_ms(), phone=False, error=frame.error, device=device,
        unprocessed=frame.why,
    )


def phone_loop(settings: Settings, stop: threading.Event | None = None,
               active: ActiveReader | None = None) -> tuple[StageLoop, str]:
    """The phone stage's consumer loop, ready to run (its control follower started), and its
    device. ``active`` reads the user database's activations (processors/model_activation.py)."""
    stop = stop or threading.Event()
    infer = PhoneInference(settings, (active() if active is not None else {}).get(
        "phone_detector"))
    threading.Thread(target=follow_control, args=(settings, infer.switcher, stop, active),
                     name="control-watch", daemon=True).start()
    stage = FrameStage(settings, "phone", PHONE_RESULTS, infer,
                       lambda f: unprocessed_phone_result(f, infer.device),
                       make_producer(settings), FrameTriage(settings, SessionRegistry(settings)))
    loop = StageLoop(settings, "phone", [FRAMES.name(settings)], group_name(settings, "phone"),
                     stage.handle, batch_size=settings.phone_batch_size,
                     batch_deadline_s=settings.batch_deadline_ms / 1000, stop=stop)
    return loop, infer.device


def build(settings: Settings) -> LoopStage:
    """The stage table's builder (vigil/core/stages.py)."""
    from processors.model_activation import active_models_reader

    loop, device = phone_loop(settings, active=active_models_reader(settings))
    return LoopStage(loop, device=device)
