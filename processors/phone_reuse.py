"""When the phone detector may skip a frame: the scene has not changed since the client's last
checked frame, and that frame is recent.

The phone verdict of a frame can only differ from the previous one when something in the
picture moved: a phone raised into view changes at least one part of it. So the phone stage
keeps, per client, a tiny grey thumbnail of the last frame the detector ran on, with that
frame's detections. A later frame of the same session whose thumbnail differs by less than
``phone_reuse_change`` in every block of a 4x4 grid, within ``phone_reuse_max_gap_ms`` of the
checked frame, gets those detections again (its result says ``reused_from``); any other frame
runs the detector and becomes the client's checked frame. The state is an LRU of
``phone_reuse_clients`` entries: a forgotten client (or one whose partition moved to another
process) only means the detector runs on its next frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from processors.client_memory import ClientMemory
from processors.vision.imaging import Image, grey_small
from processors.vision.results import PhoneDetections
from vigil.core.settings import Settings

THUMB_W, THUMB_H = 32, 24  # the thumbnail: 20x20 pixels of a 640x480 frame per thumbnail pixel
BLOCKS = 4  # BLOCKS x BLOCKS blocks of 8x6 thumbnail pixels are compared
Thumbnail = npt.NDArray[np.float32]


def thumbnail(image: Image) -> Thumbnail:
    """A 32x24 grey thumbnail (area average: sensor noise and JPEG blocks mostly cancel)."""
    return np.asarray(grey_small(image, (THUMB_W, THUMB_H)), dtype=np.float32)


def scene_change(before: Thumbnail, after: Thumbnail) -> float:
    """The largest mean absolute difference (grey levels) of any block of the 4x4 grid."""
    diff = np.abs(after - before)
    blocks = diff.reshape(BLOCKS, THUMB_H // BLOCKS, BLOCKS, THUMB_W // BLOCKS)
    return float(blocks.mean(axis=(1, 3)).max())


@dataclass(frozen=True)
class GateFrame:
    """What the gate needs of a frame: whose it is, when the gateway got it, its thumbnail."""

    frame_id: str
    client_id: str
    session_id: str
    received_at: int
    thumb: Thumbnail


@dataclass(eq=False)
class Checked:
    """A frame the detector runs on, and (once the batch ran) what it found."""

    frame_id: str
    session_id: str
    received_at: int
    thumb: Thumbnail
    found: PhoneDetections | None = None


@dataclass
class Plan:
    """A batch's plan: the frames to run (indices) and, per frame, the checked frame whose
    detections it gets (its own entry when it runs)."""

    run: list[int] = field(default_factory=list)
    sources: list[Checked] = field(default_factory=list)

    def fill(self, found: Sequence[PhoneDetections]) -> None:
        """Store the detections of the frames that ran (in the order of ``run``)."""
        if len(found) != len(self.run):
            raise ValueError(f"{len(found)} detections for {len(self.run)} frames run")
        for index, detections in zip(self.run, found, strict=True):
            self.sources[index].found = detections

    def result(self, index: int) -> tuple[PhoneDetections, str | None]:
        """Frame ``index``'s detections and the frame_id they were reused from (None: its own)."""
        source = self.sources[index]
        assert source.found is not None, "fill() the plan before reading it"
        return source.found, None if index in self.run else source.frame_id


class PhoneReuse:
    """Per client, the last frame the detector ran on (see the module docstring)."""

    def __init__(self, max_gap_ms: int, change: float, clients: int) -> None:
        self.max_gap_ms = max_gap_ms
        self.change = change
        self._last: ClientMemory[Checked] = ClientMemory(clients)

    @classmethod
    def from_settings(cls, settings: Settings) -> PhoneReuse:
        p = settings.processors
        return cls(p.phone_reuse_max_gap_ms, p.phone_reuse_change, p.phone_reuse_clients)

    @property
    def enabled(self) -> bool:
        return self.max_gap_ms > 0

    def __len__(self) -> int:
        return len(self._last)

    def clear(self) -> None:
        """Forget every client (the detector changed: old detections say nothing)."""
        self._last.clear()

    def plan(self, frames: Sequence[GateFrame]) -> Plan:
        """Which frames of a batch (in order) run the detector, and what the others reuse; a
        frame that runs becomes its client's checked frame at once, so later frames of the
        same batch compare with it."""
        plan = Plan()
        fresh: set[int] = set()  # this batch's checked frames: detections come with fill()
        for index, frame in enumerate(frames):
            last = self._last.get(frame.client_id)
            # A checked frame without detections from an earlier batch failed: run again.
            if (last is not None and (last.found is not None or id(last) in fresh)
                    and self._reusable(last, frame)):
                plan.sources.append(last)
                continue
            checked = Checked(frame.frame_id, frame.session_id, frame.received_at, frame.thumb)
            self._last.remember(frame.client_id, checked)
            fresh.add(id(checked))
            plan.run.append(index)
            plan.sources.append(checked)
        return plan

    def _reusable(self, last: Checked, frame: GateFrame) -> bool:
        return (self.enabled and last.session_id == frame.session_id
                and abs(frame.received_at - last.received_at) <= self.max_gap_ms
                and scene_change(last.thumb, frame.thumb) < self.change)
