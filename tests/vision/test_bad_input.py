"""A bad frame in a batch gets a typed error or an empty result; the others still get theirs.

Also: the registry names the missing package of a plug-in, and the device is exposed.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from processors.vision import registry
from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.device import DeviceChoice
from processors.vision.imaging import encode_jpeg
from processors.vision.results import PhoneDetections
from tests.vision.conftest import SPOOF, needs_testdata
from tests.vision.test_imaging import huge_jpeg_header
from vigil.core.plugins import PluginSpec
from vigil.core.settings import load_settings

LIVE = SPOOF / "image_T1.jpg"


def bad_inputs() -> dict[str, bytes]:
    jpeg = LIVE.read_bytes()
    ok, png = cv2.imencode(".png", cv2.imread(str(LIVE)))
    assert ok
    return {
        "empty": b"",
        "truncated": jpeg[: len(jpeg) // 2],
        "png_as_jpeg": png.tobytes(),
        "one_pixel": encode_jpeg(np.zeros((1, 1, 3), np.uint8)),
        "huge": huge_jpeg_header(10000, 10000),
    }


@needs_testdata
def test_bad_frames_do_not_break_the_batch(chain: FaceChain) -> None:
    good = LIVE.read_bytes()
    bad = bad_inputs()
    batch = [good, *bad.values(), good]
    results = chain.run_encoded(batch)
    assert len(results) == len(batch)
    for result in (results[0], results[-1]):
        assert result.error is None and len(result.faces) == 1 and result.faces[0].live
    expected_codes = ["empty", "truncated", "not_jpeg", "too_small", "too_large"]
    for name, code, result in zip(bad, expected_codes, results[1:-1], strict=True):
        assert result.faces == () and result.error is not None, name
        assert result.error.startswith(code), (name, result.error)


@needs_testdata
def test_enrollment_accepts_png(chain: FaceChain) -> None:
    png = bad_inputs()["png_as_jpeg"]
    (result,) = chain.run_encoded([png], require_jpeg=False)
    assert result.error is None and len(result.faces) == 1


@needs_testdata
def test_tiny_and_odd_arrays_give_empty_results(chain: FaceChain,
                                                phone: FramePlugin[PhoneDetections]) -> None:
    live = cv2.imread(str(LIVE))
    frames = [np.zeros((1, 1, 3), np.uint8), live, np.zeros((30, 40, 3), np.uint8), live]
    results = chain.run(frames)
    assert [len(r.faces) for r in results] == [0, 1, 0, 1]
    phones = phone.infer(frames)
    assert len(phones) == 4 and not any(p.phone for p in phones)


def test_registry_names_a_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PluginSpec("processors.vision.detector", "MtcnnFaceDetector",
                      ("torch", "no_such_vision_package"))
    monkeypatch.setitem(registry.REGISTRY["face_detector"], "mtcnn", spec)
    cpu = DeviceChoice("cpu", "cpu", False, "test")
    with pytest.raises(registry.MissingDependencyError, match="no_such_vision_package"):
        registry.create_plugin("face_detector", load_settings(), cpu, name="mtcnn")
    with pytest.raises(KeyError, match="no face_detector plug-in named 'retina'"):
        registry.create_plugin("face_detector", load_settings(), cpu, name="retina")


@needs_testdata
def test_device_is_chosen_and_exposed(chain: FaceChain) -> None:
    assert chain.device.kind == "cpu"  # the session settings ask for the CPU
    assert chain.detector.device is chain.device and chain.embedder.device is chain.device
