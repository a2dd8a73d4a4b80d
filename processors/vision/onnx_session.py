"""One onnxruntime CPU session as every ONNX plug-in opens it: the runtime threads and the
wait policy from the settings (onnxruntime is imported only here, when a plug-in loads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.core.settings import Settings


def onnx_session(settings: Settings, path: Path) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``path`` on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if settings.models.inference_threads:
        options.intra_op_num_threads = settings.models.inference_threads
    if settings.models.omp_wait_policy == "passive":
        # As torch's threads: sleep, not spin, between runs (the face process shares its
        # cores with torch; side by side with FaceNet, 15-25% less CPU a batch).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
