"""Torch models run by OpenVINO on the CPU: converted once, cached, compiled per process.

A torch plug-in's network (FaceNet, MiniFASNet) is converted with ``openvino.convert_model``
(no ONNX file, no network) into an OpenVINO IR with a dynamic batch, and the IR is cached
under ``model_cache_dir`` (default ``STATE_DIR/model-cache/``) in a folder named by the
weight file, its sha256 and the OpenVINO version: new weights or a new OpenVINO mean a new
conversion, never a stale IR. The conversion runs in a child process
(``processors.vision.torch_export``), so the process that serves frames never imports torch
(about half a gigabyte resident, and OpenMP threads that fight the other model processes for
the cores); torch is needed only for that one conversion. The IR is written to a temporary
folder and renamed into place, so a process that starts meanwhile sees the whole IR or none.

Every OpenVINO model of Vigil is compiled with :func:`cpu_config`: ``inference_threads``
threads and a precision written down (left alone, OpenVINO picks bf16 by itself on CPUs that
have it). FaceNet and YuNet run at ``openvino_precision``: in ``bf16`` (CPUs with AVX512-BF16
or AMX) they take half the CPU, embedding distances move by under 0.01 and boxes by a few
pixels; in ``f32`` scores match torch's to about 1e-6. The liveness models run at their own
``liveness_precision`` (bf16 too by default: scores within 0.03, docs/accuracy.md), the int8
models (phone detector, FaceNet int8) f32 around their int8 layers.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import VigilError
from vigil.core.settings import Settings
from vigil.core.weights import load_manifest, require_weight

log = logging.getLogger(__name__)

CONVERT_TIMEOUT_S = 600.0
IR_FILE = "model.xml"


class ModelConversionError(VigilError, RuntimeError):
    """A torch model could not be converted for OpenVINO."""


def openvino_version() -> str:
    """The OpenVINO release, e.g. ``2026.4.1`` (part of every cache key)."""
    import openvino as ov

    return str(ov.get_version()).split("-")[0]


def ir_folder(settings: Settings, weights: str) -> Path:
    """Where the IR converted from ``weights`` is cached: named by file, sha256, OpenVINO."""
    sha = load_manifest()[weights].sha256
    stem = Path(weights).stem
    return settings.weights.model_cache_path / f"{stem}-{sha[:16]}-openvino{openvino_version()}"


def converted_ir(settings: Settings, network: str, weights: str) -> Path:
    """The cached IR of the torch ``network`` ("facenet" or "minifasnet") with ``weights``;
    converted first, in a child process, when it is not cached yet."""
    path = require_weight(settings, weights)
    return built_once(
        ir_folder(settings, weights),
        lambda ir: ["processors.vision.torch_export", network, str(path), str(ir)],
        f"converting {weights} for OpenVINO",
        "it needs torch once (and facenet-pytorch for FaceNet), or choose the torch plug-in")


def built_once(folder: Path, module_args: Callable[[Path], list[str]], what: str,
               way_out: str) -> Path:
    """``folder/model.xml``, built first when missing by ``python -m MODULE ARGS``
    (``module_args`` gives them for the IR path to write) into a scratch folder beside
    ``folder``, then renamed into place, so a process that starts meanwhile sees the whole IR
    or none. Processes that need the same IR at once take turns on a lock file beside it
    (``folder.lock``, left in place: removing it could let a latecomer lock a new file while
    another holds the old one): one builds, the others wait and find it built. A failed build
    raises ModelConversionError saying ``what`` failed, the ``way_out`` and the child's
    stderr."""
    if (folder / IR_FILE).is_file():
        return folder / IR_FILE
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:  # kept: see above
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if (folder / IR_FILE).is_file():  # built while this process waited
            return folder / IR_FILE
        _build(folder, module_args, what, way_out)
    return folder / IR_FILE


def _build(folder: Path, module_args: Callable[[Path], list[str]], what: str,
           way_out: str) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        log.info("%s into %s", what, folder)
        done = subprocess.run([sys.executable, "-m", *module_args(scratch / IR_FILE)],
                              capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S,
                              check=False)
        if done.returncode != 0:
            raise ModelConversionError(f"{what} failed (exit {done.returncode}); {way_out}: "
                                       f"{done.stderr.strip()[-1500:]}")
        if folder.exists():  # left without its IR (a build interrupted before renames)
            shutil.rmtree(folder)
        os.rename(scratch, folder)  # atomic: a reader sees the whole IR or none
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plug-in can run bf16 on this machine."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@functools.cache
def _warn_no_bf16() -> None:
    log.warning("openvino_precision=bf16 but this CPU has no bf16 (AVX512-BF16 or AMX); "
                "running f32")


def cpu_config(settings: Settings, precision: str | None = None,
               threads: int | None = None) -> dict[str, Any]:
    """The compile options of every OpenVINO model: threads and precision (see above;
    ``precision`` and ``threads`` instead of the settings' for a model that measured better
    with others)."""
    precision = precision or settings.models.openvino_precision
    threads = settings.models.inference_threads if threads is None else threads
    if precision == "bf16" and not cpu_has_bf16():
        _warn_no_bf16()
        precision = "f32"
    # No pinning: OpenVINO pins its inference threads to cores by itself, the same cores in
    # every process, so the face and phone processes shared one core of two while the other
    # idled (two processes of one thread each: 52 ms a YOLO inference pinned, 25 unpinned).
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "ENABLE_CPU_PINNING": False}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


class CompiledIR:
    """A model (an IR, or an ONNX file, which OpenVINO reads itself) compiled for the CPU
    (:func:`cpu_config`) with one infer request; ``run`` takes a batch."""

    def __init__(self, settings: Settings, xml: Path, precision: str | None = None) -> None:
        import openvino as ov

        self._compiled = ov.Core().compile_model(str(xml), "CPU",
                                                 cpu_config(settings, precision))
        self._request = self._compiled.create_infer_request()
        self.xml = xml

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The first output for an N x C x H x W float32 batch (a copy, N rows)."""
        self._request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.array(self._request.get_output_tensor(0).data, dtype=np.float32)
