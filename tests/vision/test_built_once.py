"""openvino_ir.built_once: an IR built in a child process, once, however many ask at once."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from processors.vision.openvino_ir import IR_FILE, ModelConversionError, built_once

# A stand-in for the converter: writes the IR file it is given after a pause, and notes each
# run in a log, or fails when told to.
BUILDER = """
import sys, time
ir, log, fail = sys.argv[1], sys.argv[2], sys.argv[3] == "fail"
with open(log, "a") as f:
    f.write("built\\n")
time.sleep(0.5)
if fail:
    sys.exit("no weights here")
open(ir, "w").write("<net/>")
"""


@pytest.fixture
def builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fake_builder.py").write_text(BUILDER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(modules), *sys.path]))
    return tmp_path / "builds.log"


def test_processes_needing_the_same_ir_at_once_build_it_once(tmp_path: Path,
                                                             builder: Path) -> None:
    folder = tmp_path / "cache" / "facenet-int8"

    def build(_: int) -> Path:
        return built_once(folder, lambda ir: ["fake_builder", str(ir), str(builder), "ok"],
                          "building", "no way out")

    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(build, range(3)))
    assert paths == [folder / IR_FILE] * 3
    assert (folder / IR_FILE).read_text() == "<net/>"
    assert builder.read_text().splitlines() == ["built"]  # the others waited and found it
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".build-")]


def test_a_failed_build_says_why_and_leaves_nothing_half_built(tmp_path: Path,
                                                               builder: Path) -> None:
    folder = tmp_path / "cache" / "facenet-int8"
    with pytest.raises(ModelConversionError, match=r"building failed.*no way out.*no weights"):
        built_once(folder, lambda ir: ["fake_builder", str(ir), str(builder), "fail"],
                   "building", "no way out")
    assert not folder.exists()
    built_once(folder, lambda ir: ["fake_builder", str(ir), str(builder), "ok"], "building",
               "no way out")
    assert (folder / IR_FILE).is_file()
