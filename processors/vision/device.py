"""Choosing where the models run, once, at startup (the seed's "GPU check -> CPU fallback").

CUDA is chosen when it is available and has at least ``cuda_min_free_mb`` free (models then
run in fp16); otherwise the CPU. The choice is logged and kept on every plug-in as
``plugin.device`` so the face and phone processors can export it as a metric.

torch is imported only when a plug-in of the process runs on it: a process whose plug-ins
do not (an OpenVINO or ONNX Runtime model) stays on the CPU without loading torch, which
holds about half a gigabyte of resident memory once imported.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.core.settings import Settings

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceChoice:
    """The device in use: ``kind`` is "cpu" or "cuda"; ``half`` means fp16 inference."""

    kind: str
    torch_device: str
    half: bool
    reason: str

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type model inputs are cast to."""
        import torch

        return torch.float16 if self.half else torch.float32


def set_openmp_wait_policy(settings: Settings) -> None:
    """Set OMP_WAIT_POLICY from the settings; OpenMP reads it once, when torch loads it."""
    if settings.models.omp_wait_policy == "library" or "OMP_WAIT_POLICY" in os.environ:
        return
    if "torch" in sys.modules:
        log.warning("torch was imported before the device choice: omp_wait_policy=%s not "
                    "applied", settings.models.omp_wait_policy)
        return
    os.environ["OMP_WAIT_POLICY"] = settings.models.omp_wait_policy.upper()


def _cuda_free_mb() -> int:
    import torch

    free, _total = torch.cuda.mem_get_info()
    return int(free // (1 << 20))


def select_device(settings: Settings, uses_torch: bool = True) -> DeviceChoice:
    """Pick the device from settings.device and what the machine has; log the choice.

    ``uses_torch`` False (no plug-in of this process runs on torch): the CPU, torch not
    imported.
    """
    # Even without torch: a library loaded later in this process (Ultralytics, a bench's
    # second model) may import it, and its threads must not spin either.
    set_openmp_wait_policy(settings)
    if not uses_torch:
        log.info("vision device=cpu reason=no plug-in of this process runs on torch")
        return DeviceChoice("cpu", "cpu", False, "no plug-in of this process runs on torch")
    import torch

    if settings.models.inference_threads:
        torch.set_num_threads(settings.models.inference_threads)
    choice: DeviceChoice
    if settings.models.device == "cpu":
        choice = DeviceChoice("cpu", "cpu", False, "device=cpu in settings")
    elif not torch.cuda.is_available():
        if settings.models.device == "cuda":
            raise RuntimeError("device=cuda in settings but torch sees no CUDA device")
        choice = DeviceChoice("cpu", "cpu", False, "no CUDA device")
    else:
        free = _cuda_free_mb()
        if free >= settings.models.cuda_min_free_mb or settings.models.device == "cuda":
            choice = DeviceChoice("cuda", "cuda:0", True, f"{free} MiB free on cuda:0")
        else:
            choice = DeviceChoice(
                "cpu",
                "cpu",
                False,
                f"only {free} MiB free on cuda:0 "
                f"(< cuda_min_free_mb={settings.models.cuda_min_free_mb})",
            )
    log.info("vision device=%s half=%s threads=%d omp_wait_policy=%s reason=%s", choice.kind,
             choice.half, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY", "library"),
             choice.reason)
    return choice
