"""The compile options every OpenVINO model gets: threads, no CPU pinning, a written precision
(bf16 only where the CPU has it)."""

from __future__ import annotations

import logging

import pytest

from processors.vision import openvino_ir
from processors.vision.openvino_ir import cpu_config
from vigil.core.settings import load_settings


def test_threads_pinning_and_precision_are_always_written() -> None:
    config = cpu_config(load_settings(openvino_precision="f32", inference_threads=1))
    assert config == {"INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False,
                      "INFERENCE_NUM_THREADS": 1}
    # 0 threads: the runtime's own default, so the option is left out.
    assert "INFERENCE_NUM_THREADS" not in cpu_config(load_settings(inference_threads=0))
    # A model that measured better in another precision asks for it.
    assert cpu_config(load_settings(openvino_precision="bf16"), "f32")[
        "INFERENCE_PRECISION_HINT"] == "f32"


@pytest.mark.parametrize("has_bf16,expected", [(True, "bf16"), (False, "f32")])
def test_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture, has_bf16: bool,
                                        expected: str) -> None:
    monkeypatch.setattr(openvino_ir, "cpu_has_bf16", lambda: has_bf16)
    openvino_ir._warn_no_bf16.cache_clear()
    with caplog.at_level(logging.WARNING, logger=openvino_ir.__name__):
        config = cpu_config(load_settings(openvino_precision="bf16"))
        cpu_config(load_settings(openvino_precision="bf16"))
    assert config["INFERENCE_PRECISION_HINT"] == expected
    warnings = [r for r in caplog.records if "no bf16" in r.getMessage()]
    assert len(warnings) == (0 if has_bf16 else 1)  # said once, not per model
