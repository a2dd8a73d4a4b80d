"""The model-only ceiling: what the models alone could decide per second on this machine.

The same JPEG frames the bench streams are decoded and run through the face chain
(processors/vision/chain.py) and the phone plug-in, in batches of face_batch_size and
phone_batch_size as the processors run them, with no Kafka, no WebSocket and no other stage.
On a machine where the face and phone processes share the same cores, a frame costs the CPU
the sum of the three times, so the ceiling is frames / (decode + face + phone). Measured in
the bench's own process, with the inference threads the settings give (best of the repeats), while
the stack it benchmarks sits idle: before and after the streaming, so a change in the
machine's other load shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from vigil.core.settings import Settings

if TYPE_CHECKING:
    from processors.vision.base import FramePlugin
    from processors.vision.chain import FaceChain
    from processors.vision.results import PhoneDetections

REPEATS = 2


@dataclass(frozen=True)
class Ceiling:
    """Milliseconds per frame of each part, and the frames they were measured on."""

    frames: int
    decode_ms: float
    face_ms: float
    phone_ms: float
    threads: int  # inference_threads (0: each runtime's default)

    @property
    def fps(self) -> float:
        return 1000.0 / (self.decode_ms + self.face_ms + self.phone_ms)

    def line(self, when: str) -> str:
        return (f"model-only ceiling ({when}) {self.fps:.1f} frames/s on {self.frames} frames "
                f"(inference threads {self.threads or 'runtime default'}, no Kafka): decode "
                f"{self.decode_ms:.1f} + face chain {self.face_ms:.1f} + phone "
                f"{self.phone_ms:.1f} ms/frame")


def ceiling_lines(before: Ceiling, after: Ceiling) -> tuple[float, list[str]]:
    """The ceiling to compare with (the better of the two measurements, taken before and
    after the streaming) and the lines that say so, with a warning when they disagree: the
    machine's other load changed during the run, and the efficiency is unreliable."""
    best = max(before.fps, after.fps)
    lines = [before.line("before the run"), after.line("after the run")]
    if min(before.fps, after.fps) < 0.8 * best:
        lines.append("WARNING: the two ceilings differ by more than 20%: other work on this "
                     "machine changed its speed during the run; compare runs side by side")
    return best, lines


def _best_ms_per_frame(run: Callable[[], object], frames: int) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0 / frames


def load_phone(settings: Settings, chain: FaceChain) -> FramePlugin[PhoneDetections]:
    """The configured phone plug-in on the face chain's device, loaded and warmed up."""
    from processors.vision.registry import load_plugin

    return cast("FramePlugin[PhoneDetections]",
                load_plugin("phone_detector", settings, chain.device))


def measure_ceiling(settings: Settings, jpegs: Sequence[bytes], chain: FaceChain,
                    phone: FramePlugin[PhoneDetections], frames: int = 32) -> Ceiling:
    """Time decode, face chain and phone per frame, in the processors' batch sizes."""

    from processors.vision.base import batches
    from processors.vision.imaging import Image, decode_frame

    stream = [jpegs[i % len(jpegs)] for i in range(frames)]

    def decode_all() -> list[Image]:
        return [decode_frame(j, max_pixels=settings.models.max_image_pixels) for j in stream]

    images = decode_all()
    face_batches = batches(images, settings.processors.face_batch_size)
    phone_batches = batches(images, settings.processors.phone_batch_size)
    chain.run(face_batches[0])  # warm-up at the batch size used
    phone.infer(phone_batches[0])
    return Ceiling(
        frames=frames,
        decode_ms=_best_ms_per_frame(decode_all, frames),
        face_ms=_best_ms_per_frame(lambda: [chain.run(b) for b in face_batches], frames),
        phone_ms=_best_ms_per_frame(lambda: [phone.infer(b) for b in phone_batches], frames),
        threads=settings.models.inference_threads,
    )
