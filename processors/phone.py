"""The phone processor's inference: a model stage (processors/model_stage.py) on ``frames``,
PhoneResult out (the phone entry of vigil/core/flow.py).

Runs the configured phone detector (COCO class 67) on each batch of frames. A
``model-activated`` event swaps it between two batches (processors/model_swap.py); every
result names the version it ran with (``models``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal, cast

from processors.batch import DecodedFrame, UnprocessedFrame, common_fields
from processors.model_stage import ModelStage
from processors.model_swap import ModelSwitcher
from processors.phone_reuse import GateFrame, PhoneReuse, Thumbnail, thumbnail
from processors.vision.base import FramePlugin
from processors.vision.device import select_device
from processors.vision.registry import LoadedPlugin, Role, load_versioned, uses_torch
from processors.vision.results import PhoneDetections
from schemas.events import Box, ControlEvent, PhoneDetection, PhoneResult, now_ms
from vigil.core import metrics
from vigil.core.flow import PHONE_STAGE
from vigil.core.flow_types import Stage, StageIO
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


def to_phone_result(frame: DecodedFrame, found: PhoneDetections, device: str,
                    processed_at: int, models: Mapping[str, str],
                    reused_from: str | None = None) -> PhoneResult:
    """One frame's PhoneResult: every phone box the detector reported, and its verdict
    (``reused_from``: the earlier frame whose detections these are)."""
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
        reused_from=reused_from,
    )


def gate_frame(frame: DecodedFrame, thumb: Thumbnail | None = None) -> GateFrame:
    """What :class:`PhoneReuse` compares of a decoded frame (its thumbnail made here unless
    given: the sessions bench keeps them beside its cached model outputs)."""
    h = frame.headers
    return GateFrame(h.frame_id, h.client_id, h.session_id, h.received_at,
                     thumbnail(frame.image) if thumb is None else thumb)


class PhoneInference:
    """Frames in, PhoneResult events out; the detector hot-swappable."""

    def __init__(self, settings: Settings, name: str | None = None,
                 stage: str = PHONE_STAGE.name) -> None:
        device = select_device(settings, uses_torch("phone_detector", settings))
        loaded = load_versioned("phone_detector", settings, device, name)
        self.detector = cast(FramePlugin[PhoneDetections], loaded.plugin)
        self.device = device.kind
        self.reuse = PhoneReuse.from_settings(settings)
        self.stage = stage
        self.switcher = ModelSwitcher(
            stage, ("phone_detector",), {"phone_detector": loaded.version},
            lambda role, name: load_versioned(role, settings, device, name), self._install)
        metrics.DEVICE.labels(stage, self.device).set(1)

    def _install(self, _role: Role, loaded: LoadedPlugin) -> None:
        self.detector = cast(FramePlugin[PhoneDetections], loaded.plugin)
        self.reuse.clear()  # the old detector's findings say nothing about the new one's

    def __call__(self, frames: list[DecodedFrame]) -> list[PhoneResult]:
        models = self.switcher.between_batches()
        found, reused = self._detect(frames)
        processed = now_ms()
        return [to_phone_result(frame, detections, self.device, processed, models, source)
                for frame, detections, source in zip(frames, found, reused, strict=True)]

    def _detect(self, frames: list[DecodedFrame]
                ) -> tuple[list[PhoneDetections], list[str | None]]:
        """Each frame's detections, and the frame_id they were reused from (None: its own)."""
        if not self.reuse.enabled:
            return self.detector.infer([f.image for f in frames]), [None] * len(frames)
        plan = self.reuse.plan([gate_frame(f) for f in frames])
        plan.fill(self.detector.infer([frames[i].image for i in plan.run]) if plan.run else [])
        metrics.PHONE_REUSED.labels(self.stage).inc(len(frames) - len(plan.run))
        results = [plan.result(i) for i in range(len(frames))]
        return [r[0] for r in results], [r[1] for r in results]

    def unprocessed(self, frame: UnprocessedFrame) -> PhoneResult:
        """The PhoneResult of a frame the detector did not see (bad, stale, session ended)."""
        return PhoneResult(
            **common_fields(frame),
            processed_at=now_ms(), phone=False, error=frame.error, device=self.device,
            unprocessed=frame.why,
        )

    def on_client_event(self, event: ControlEvent) -> None:
        """Nothing of the phone stage depends on a client's state."""


def build(entry: Stage, settings: Settings, io: StageIO) -> ModelStage[PhoneResult]:
    """The flow table's builder: the phone detector in the model stage."""
    from processors.model_activation import active_models_reader

    active = active_models_reader(settings)
    infer = PhoneInference(settings, active().get("phone_detector"), stage=entry.name)
    return ModelStage(entry, settings, infer, io, active)
