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

import numpy as np

from processors.vision.base import FacePlugin, FramePlugin, LivenessPlugin, VisionPlugin
from processors.vision.chain import FaceChain
from processors.vision.device import select_device
from processors.vision.imaging import Image, letterbox, read_image
from processors.vision.registry import Role, configured_name
from processors.vision.results import BoxXYXY, FaceDetections
from vigil.apps.bench import TESTDATA
from vigil.core.plugins import ENSEMBLE
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BATCHES = (1, 8, 32)
DEFAULT_IMAGE = TESTDATA / "spoof" / "image_T1.jpg"


@dataclass(frozen=True)
class BenchRow:
    """One line of the table: a plug-in at one batch size."""

    plugin: str
    batch: int
    batched_ms: float  # per frame
    single_ms: float  # per frame, one call per frame
    batched_cpu_ms: float  # per frame, CPU time of all the process's threads

    @property
    def speedup(self) -> float:
        """How many times faster batched is than one-at-a-time."""
        return self.single_ms / self.batched_ms if self.batched_ms > 0 else float("nan")


def _time_per_frame(run: Callable[[], object], frames: int, repeats: int
                    ) -> tuple[float, float]:
    """Best-of-``repeats`` milliseconds per frame, wall and CPU (the minimum is the least
    noisy; CPU time is what a frame costs when other processes share the cores)."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best * 1000.0 / frames, best_cpu * 1000.0 / frames


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

        batched, batched_cpu = _time_per_frame(batched_run, batch, repeats)
        single, _ = _time_per_frame(single_run, batch, repeats)
        rows.append(BenchRow(name, batch, batched, single, batched_cpu))
        log.info("bench plugin=%s batch=%d batched_ms=%.1f cpu_ms=%.1f single_ms=%.1f", name,
                 batch, batched, batched_cpu, single)
    return rows


def _label(role: Role, settings: Settings) -> str:
    """A row's name: the role and the plug-in (an ensemble with its rule and members)."""
    name = configured_name(settings, role)
    if name == ENSEMBLE:
        models = settings.models
        name = f"{models.liveness_combine}:{'+'.join(models.liveness_ensemble)}"
    return f"{role.removesuffix('_model')} {name}"


def _variants(settings: Settings, compare: Sequence[str]) -> list[tuple[str, Settings]]:
    """The configured settings, then one per --compare alternative (as bench accuracy's)."""
    from vigil.apps.bench.accuracy.alternatives import parse_alternative, settings_for

    out = [("configured", settings)]
    for text in compare:
        alternative = parse_alternative(text)
        out.append((alternative.label, settings_for(settings, alternative)))
    return out


Pick = Callable[[Sequence[int]], list[Image]]


def _plugin_case(plugin: VisionPlugin, pick: Pick, boxes: list[list[BoxXYXY]]
                 ) -> Callable[[Sequence[int]], object]:
    """Run a plug-in on the picked frames (a face plug-in on the bench face of each)."""
    if isinstance(plugin, FacePlugin):
        return lambda ix: plugin.infer(pick(ix), boxes * len(ix))
    assert isinstance(plugin, FramePlugin)
    return lambda ix: plugin.infer(pick(ix))


def _chain_case(chain: FaceChain, pick: Pick) -> Callable[[Sequence[int]], object]:
    return lambda ix: chain.run(pick(ix))


def run_benchmark(settings: Settings, image: Path = DEFAULT_IMAGE,
                  batches: Sequence[int] = DEFAULT_BATCHES, repeats: int = 2,
                  include_phone: bool = True, compare: Sequence[str] = ()
                  ) -> tuple[str, list[BenchRow]]:
    """Load every plug-in once and time them, the configured ones and each ``compare``
    alternative's side by side (each plug-in once, a face chain per alternative); returns
    the device line and the rows."""
    from vigil.apps.bench.accuracy.alternatives import ModelCache

    if not image.is_file():
        raise FileNotFoundError(f"bench image {image} not found; pass --image PATH")
    device = select_device(settings)  # first: it sets how torch's threads wait, then imports it
    import torch
    frame = letterbox(read_image(str(image)))
    frames: list[Image] = [frame.copy() for _ in range(max(batches))]
    cache = ModelCache(device)
    variants = _variants(settings, compare)
    detector = cast(FramePlugin[FaceDetections], cache.plugin("face_detector", settings))
    boxes: list[list[BoxXYXY]] = [[f.box for f in detector.infer([frame])[0].faces]]
    if len(boxes[0]) != 1:
        log.warning("bench image has %d faces, not 1", len(boxes[0]))

    def pick(ix: Sequence[int]) -> list[Image]:
        return [frames[i] for i in ix]

    roles: list[Role] = ["face_detector", "face_embedder", "liveness_model"]
    roles += ["phone_detector"] if include_phone else []
    cases: dict[str, Callable[[Sequence[int]], object]] = {}
    for _, variant in variants:
        for role in roles:
            cases.setdefault(_label(role, variant),
                             _plugin_case(cache.plugin(role, variant), pick, boxes))
    for label, variant in variants:
        chain = FaceChain(
            variant, cast(FramePlugin[FaceDetections], cache.plugin("face_detector", variant)),
            cast(FacePlugin[np.ndarray], cache.plugin("face_embedder", variant)),
            cast(LivenessPlugin, cache.plugin("liveness_model", variant)), device)
        cases[f"face chain {label}"] = _chain_case(chain, pick)
    rows: list[BenchRow] = []
    for name, infer in cases.items():
        rows.extend(bench_case(name, infer, batches, repeats))
    device_line = (f"device: {device.kind} (fp16={device.half}; {device.reason}); "
                   f"torch threads: {torch.get_num_threads()}; frame: 640x480 from {image.name}, "
                   f"{len(boxes[0])} face")
    return device_line, rows


def format_table(device_line: str, rows: Sequence[BenchRow]) -> str:
    """The side-by-side table `vigil bench models` prints."""
    width = max([15, *(len(r.plugin) + 2 for r in rows)])
    head = (f"{'plugin':<{width}}{'batch':>6}  {'batched ms/frame':>16}{'fps':>8}  "
            f"{'1-at-a-time ms/frame':>20}{'fps':>8}  {'speed-up':>8}  {'batched CPU ms':>14}")
    lines = [device_line, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.plugin:<{width}}{r.batch:>6}  {r.batched_ms:>16.1f}{1000 / r.batched_ms:>8.1f}  "
            f"{r.single_ms:>20.1f}{1000 / r.single_ms:>8.1f}  {r.speedup:>7.2f}x  "
            f"{r.batched_cpu_ms:>14.1f}"
        )
    return "\n".join(lines)
