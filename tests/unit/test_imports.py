"""What a stage process imports before its models: never torch (half a gigabyte resident
once imported). Only a plug-in that runs on torch imports it, so a stage whose plug-ins run
on another runtime (OpenVINO, ONNX Runtime) never loads it."""

from __future__ import annotations

import os
import subprocess
import sys

from vigil.core.stages import STAGES

PROBE = """
import importlib, sys
import vigil.apps.cli as cli
cli.build_parser()
from vigil.core.stages import STAGES
from vigil.core.settings import load_settings

def heavy():
    return ",".join(m for m in ("torch", "ultralytics", "facenet_pytorch") if m in sys.modules)

for entry in STAGES:
    importlib.import_module(entry.builder.split(":")[0])
    print(entry.name, heavy())
from processors.vision.device import select_device
print("device", select_device(load_settings(), uses_torch=False).kind, heavy())
"""


def test_no_stage_module_imports_torch_before_a_torch_plugin_is_created() -> None:
    lines = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           check=True, timeout=120).stdout.splitlines()
    assert lines == [f"{s.name} " for s in STAGES] + ["device cpu "]


WAIT_PROBE = """
import os
from vigil.core.settings import load_settings
from processors.vision.device import set_openmp_wait_policy

def policy(setting, given=None):
    os.environ.pop("OMP_WAIT_POLICY", None)
    if given:
        os.environ["OMP_WAIT_POLICY"] = given
    set_openmp_wait_policy(load_settings(omp_wait_policy=setting))
    return os.environ.get("OMP_WAIT_POLICY", "unset")

print(policy("passive"), policy("library"), policy("passive", "ACTIVE"))
import torch
print(policy("passive"))  # too late once torch is loaded: logged, not applied
"""


def test_openmp_wait_policy_is_set_before_torch_loads_unless_the_environment_says() -> None:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    lines = subprocess.run([sys.executable, "-c", WAIT_PROBE], capture_output=True, text=True,
                           check=True, timeout=120, env=environ).stdout.splitlines()
    assert lines == ["PASSIVE unset ACTIVE", "unset"]
