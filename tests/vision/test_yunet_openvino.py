"""YuNet run by OpenVINO (yunet_openvino) against YuNet run by OpenCV (yunet) on every shared
photo, as webcam frames and at their own size: the same faces, boxes, landmarks and scores in
f32; within a few pixels and 0.01 of score in bf16."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest

from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.imaging import read_image
from processors.vision.openvino_ir import cpu_config, cpu_has_bf16
from processors.vision.registry import load_plugin
from processors.vision.results import FaceDetections
from processors.vision.yunet_openvino import OpenVinoYuNetFaceDetector, decode, padded
from tests.vision.conftest import FACES, SPOOF, TESTDATA, as_webcam, needs_testdata
from vigil.core.settings import Settings
from vigil.core.weights import require_weight

pytestmark = needs_testdata


def _pictures() -> list[np.ndarray]:
    paths = [*sorted(FACES.iterdir()), *sorted(SPOOF.iterdir()),
             *sorted((TESTDATA / "objects").iterdir())]
    photos = [p for p in paths if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    # Webcam frames (what the service sees), and the photos themselves (other sizes, padded
    # to multiples of 32 differently, shrunk to yunet_max_side first when larger).
    return [as_webcam(p) for p in photos] + [read_image(str(p)) for p in photos]


def _detector(settings: Settings, chain: FaceChain, name: str,
              **changes: object) -> FramePlugin[FaceDetections]:
    return cast(FramePlugin[FaceDetections],
                load_plugin("face_detector", settings.replace(**changes), chain.device,
                            name))


def _rows(detections: FaceDetections) -> np.ndarray:
    return np.array([[*f.box, *np.ravel(f.landmarks), f.score] for f in detections.faces])


@pytest.fixture(scope="module")
def opencv_found(vision_settings: Settings, chain: FaceChain) -> list[FaceDetections]:
    return _detector(vision_settings, chain, "yunet").infer(_pictures())


def test_openvino_f32_finds_what_opencv_finds(vision_settings: Settings, chain: FaceChain,
                                              opencv_found: list[FaceDetections]) -> None:
    found = _detector(vision_settings, chain, "yunet_openvino",
                      openvino_precision="f32").infer(_pictures())
    assert sum(len(d.faces) for d in opencv_found) >= 20  # faces were there to find
    for expected, got in zip(opencv_found, found, strict=True):
        assert len(got.faces) == len(expected.faces)
        if expected.faces:
            assert np.abs(_rows(got) - _rows(expected)).max() < 1e-2


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 (AVX512-BF16 or AMX)")
def test_openvino_bf16_finds_the_same_faces_within_pixels(
        vision_settings: Settings, chain: FaceChain,
        opencv_found: list[FaceDetections]) -> None:
    found = _detector(vision_settings, chain, "yunet_openvino",
                      openvino_precision="bf16").infer(_pictures())
    for expected, got in zip(opencv_found, found, strict=True):
        assert len(got.faces) == len(expected.faces)
        for a, b in zip(_rows(expected), _rows(got), strict=True):
            assert np.abs(a[:14] - b[:14]).max() < 6.0  # pixels, on pictures up to 640 px
            assert abs(a[14] - b[14]) < 0.01


def test_the_uint8_input_gives_the_rows_of_the_float_tensor(
        vision_settings: Settings, chain: FaceChain) -> None:
    """The model converts the uint8 NHWC picture itself; the rows are those of the same
    network fed numpy's float32 NCHW tensor, as it was before (f32)."""
    import openvino as ov

    settings = vision_settings.replace(openvino_precision="f32")
    detector = cast(OpenVinoYuNetFaceDetector,
                    _detector(vision_settings, chain, "yunet_openvino", openvino_precision="f32"))
    core = ov.Core()
    model = core.read_model(str(require_weight(settings, settings.models.yunet_weights)))
    model.reshape({model.inputs[0].get_any_name(): [1, 3, 480, 640]})
    request = core.compile_model(model, "CPU", cpu_config(settings)).create_infer_request()
    names = [output.get_any_name() for output in model.outputs]
    compared = 0
    for picture in _pictures():
        tensor, width, height = padded(picture)
        if (width, height) != (640, 480):
            continue
        request.infer({0: np.ascontiguousarray(tensor.transpose(0, 3, 1, 2), np.float32)})
        outputs = {name: request.get_output_tensor(i).data for i, name in enumerate(names)}
        expected = decode(outputs, width, height, settings.models.face_detect_threshold)
        got = detector._rows(picture)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert got is not None and np.abs(got - expected).max() < 1e-4
            compared += len(expected)
    assert compared >= 20  # webcam frames with faces were compared


def test_padding_and_decoding_of_an_empty_picture() -> None:
    tensor, width, height = padded(np.zeros((479, 641, 3), dtype=np.uint8))
    assert (width, height) == (672, 480) and tensor.shape == (1, 480, 672, 3)
    assert tensor.dtype == np.uint8 and not tensor[0, 479:].any() and not tensor[0, :, 641:].any()
    silent = {f"{kind}_{s}": np.zeros((1, (width // s) * (height // s), n), np.float32)
              for s in (8, 16, 32) for kind, n in (("cls", 1), ("obj", 1), ("bbox", 4),
                                                   ("kps", 10))}
    assert decode(silent, width, height, 0.6) is None
