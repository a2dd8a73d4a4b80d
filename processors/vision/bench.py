"""`vigil bench models`: milliseconds per 640x480 frame and frames per second of each plug-in
and of the whole face chain, batched against one-at-a-time, in the same run.

The frame is a real photo with one face (default: the shared test image spoof/image_T1.jpg)
letterboxed to 640x480, as a webcam client sends it. Each batch size is timed batched (one
call for the whole batch) and one-at-a-time (one call per frame), after a warm-up, on the
device chosen at startup; the speed-up column is one-at-a-time time over batched time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from processors.vision.base import FacePlugin, FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.device import select_device
from processors.vision.imaging import Image, letterbox, read_image
from processors.vision.registry import load_plugin
from processors.vision.results import BoxXYXY, FaceDetections, PhoneDetections
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BATCHES = (1, 8, 32)
REPO = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE = REPO.parent / "shared" / "testdata" / "spoof" / "image_T1.jpg"


@dataclass(frozen=True)
class BenchRow:
    """One line of the table: a plug-in at one batch size."""

    plugin: str
    batch: int
    batched_ms: float  # per frame
    single_ms: float  # per frame, one call per frame

    @property
    def speedup(self) -> float:
        """How many times faster batched is than one-at-a-time."""
        return self.single_ms / self.batched_ms if self.batched_ms > 0 else float("nan")


def _time_per_frame(run: Callable[[], object], frames: int, repeats: int) -> float:
    """Best-of-``repeats`` milliseconds per frame (the minimum is the least noisy)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0 / frames


def bench_case(name: str, infer: Callable[[Sequence[int]], object], batches: Sequence[int],
               repeats: int) -> list[BenchRow]:
    """Time ``infer`` over frame indices, batched and one index at a time, per batch size."""
    rows = []
    for batch in batches:
        indices = list(range(batch))

        def batched_run(ix: list[int] = indices) -> object:
            return infer(ix)

        def single_run(ix: list[int] = indices) -> object:
            return [infer([i]) for i in ix]

        batched = _time_per_frame(batched_run, batch, repeats)
        single = _time_per_frame(single_run, batch, repeats)
        rows.append(BenchRow(name, batch, batched, single))
        log.info("bench plugin=%s batch=%d batched_ms=%.1f single_ms=%.1f", name, batch,
                 batched, single)
    return rows


def run_benchmark(settings: Settings, image: Path = DEFAULT_IMAGE,
                  batches: Sequence[int] = DEFAULT_BATCHES, repeats: int = 2,
                  include_phone: bool = True) -> tuple[str, list[BenchRow]]:
    """Load every plug-in once and time them; returns the device line and the rows."""
    if not image.is_file():
        raise FileNotFoundError(f"bench image {image} not found; pass --image PATH")
    device = select_device(settings)  # first: it sets how torch's threads wait, then imports it
    import torch
    frame = letterbox(read_image(str(image)))
    frames: list[Image] = [frame.copy() for _ in range(max(batches))]
    chain = FaceChain.load(settings, device)
    boxes: list[list[BoxXYXY]] = [[f.box for f in chain.detector.infer([frame])[0].faces]]
    if len(boxes[0]) != 1:
        log.warning("bench image has %d faces, not 1", len(boxes[0]))
    detector: FramePlugin[FaceDetections] = chain.detector
    embedder: FacePlugin[object] = cast(FacePlugin[object], chain.embedder)
    liveness: FacePlugin[float] = chain.liveness

    def pick(ix: Sequence[int]) -> list[Image]:
        return [frames[i] for i in ix]

    cases: list[tuple[str, Callable[[Sequence[int]], object]]] = [
        ("face_detector", lambda ix: detector.infer(pick(ix))),
        ("face_embedder", lambda ix: embedder.infer(pick(ix), boxes * len(ix))),
        ("liveness", lambda ix: liveness.infer(pick(ix), boxes * len(ix))),
    ]
    if include_phone:
        phone = cast(FramePlugin[PhoneDetections],
                     load_plugin("phone_detector", settings, device))
        cases.append(("phone_detector", lambda ix: phone.infer(pick(ix))))
    cases.append(("face_chain", lambda ix: chain.run(pick(ix))))
    rows: list[BenchRow] = []
    for name, infer in cases:
        rows.extend(bench_case(name, infer, batches, repeats))
    device_line = (f"device: {device.kind} (fp16={device.half}; {device.reason}); "
                   f"torch threads: {torch.get_num_threads()}; frame: 640x480 from {image.name}, "
                   f"{len(boxes[0])} face")
    return device_line, rows


def format_table(device_line: str, rows: Sequence[BenchRow]) -> str:
    """The side-by-side table `vigil bench models` prints."""
    head = (f"{'plugin':<15}{'batch':>6}  {'batched ms/frame':>16}{'fps':>8}  "
            f"{'1-at-a-time ms/frame':>20}{'fps':>8}  {'speed-up':>8}")
    lines = [device_line, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.plugin:<15}{r.batch:>6}  {r.batched_ms:>16.1f}{1000 / r.batched_ms:>8.1f}  "
            f"{r.single_ms:>20.1f}{1000 / r.single_ms:>8.1f}  {r.speedup:>7.2f}x"
        )
    return "\n".join(lines)
