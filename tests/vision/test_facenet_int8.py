"""FaceNet in int8 (facenet_int8) on real photos: embeddings near the float model's, the
same verification verdicts, templates that compare across the two, the IR quantized once
and reused, and clear errors without calibration faces."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from processors.vision.base import FacePlugin
from processors.vision.chain import FaceChain, l2_distance
from processors.vision.facenet_int8 import MIN_FACES, CalibrationError, quantized_ir
from processors.vision.openvino_ir import converted_ir
from processors.vision.registry import load_plugin, load_versioned
from processors.vision.results import BoxXYXY
from tests.vision.conftest import FACES, SPOOF, as_webcam, needs_testdata
from vigil.core.settings import Settings
from vigil.core.template import same_weights

pytestmark = needs_testdata
# Calibrated on testdata/faces (the default folder); these are looked at besides.
PICTURES = (*sorted(FACES.iterdir()), *(SPOOF / n for n in ("image_T1.jpg", "image_F1.jpg",
                                                              "image_F2.jpg")))
MOVES = 0.2  # the most an embedding (unit length) may move from the float model's
PAIR_MOVES = 0.06  # the most a distance between two faces may move


@pytest.fixture(scope="module")
def embedders(vision_settings: Settings, chain: FaceChain
              ) -> tuple[FacePlugin[np.ndarray], FacePlugin[np.ndarray]]:
    settings = vision_settings.replace(openvino_precision="f32")
    return cast(tuple[FacePlugin[np.ndarray], FacePlugin[np.ndarray]], tuple(
        load_plugin("face_embedder", settings, chain.device, name)
        for name in ("facenet_openvino", "facenet_int8")))


@pytest.fixture(scope="module")
def faces(chain: FaceChain) -> tuple[list[np.ndarray], list[list[BoxXYXY]]]:
    frames = [as_webcam(p) for p in PICTURES]
    boxes = [[f.box for f in d.faces][:1] for d in chain.detector.infer(frames)]
    return frames, boxes


def test_int8_embeds_near_the_float_model_and_verifies_the_same(
        vision_settings: Settings, faces: tuple[list[np.ndarray], list[list[BoxXYXY]]],
        embedders: tuple[FacePlugin[np.ndarray], FacePlugin[np.ndarray]]) -> None:
    frames, boxes = faces
    assert all(len(b) == 1 for b in boxes)
    float_model, int8 = embedders
    expected = [e[0] for e in float_model.infer(frames, boxes)]
    got = [e[0] for e in int8.infer(frames, boxes)]
    moved = [l2_distance(a, b) for a, b in zip(expected, got, strict=True)]
    assert max(moved) < MOVES, moved
    assert min(moved) > 0  # it is another model: not the float IR run again
    threshold = vision_settings.models.verify
    verdicts = 0
    for i, j in itertools.combinations(range(len(frames)), 2):
        before, after = l2_distance(expected[i], expected[j]), l2_distance(got[i], got[j])
        assert abs(before - after) < PAIR_MOVES, (PICTURES[i].name, PICTURES[j].name)
        if abs(before - threshold) >= PAIR_MOVES:
            assert (before <= threshold) == (after <= threshold)
            verdicts += 1
    assert verdicts > 0
    # A template enrolled with one is compared with the other: same weights, same digest.
    versions = [load_versioned("face_embedder", vision_settings, float_model.device, n).version
                for n in ("facenet_openvino", "facenet_int8")]
    assert same_weights(*versions), versions


def test_the_int8_ir_is_quantized_once_then_reused(
        vision_settings: Settings,
        embedders: tuple[FacePlugin[np.ndarray], FacePlugin[np.ndarray]]) -> None:
    folder = vision_settings.models.int8_calibration_faces
    assert folder is not None
    float_xml = converted_ir(vision_settings, "facenet", vision_settings.models.embedder_weights)
    first = quantized_ir(vision_settings, float_xml, folder)
    stamp = first.stat().st_mtime_ns
    load_plugin("face_embedder", vision_settings, embedders[1].device, "facenet_int8")
    again = quantized_ir(vision_settings, float_xml, folder)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.parent.name.startswith(float_xml.parent.name + "-int8-nncf")
    leftovers = [p.name for p in vision_settings.weights.model_cache_path.iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []


def test_too_few_calibration_faces_or_none_is_a_clear_error(
        vision_settings: Settings, tmp_path: Path,
        embedders: tuple[FacePlugin[np.ndarray], FacePlugin[np.ndarray]]) -> None:
    few = tmp_path / "few"
    few.mkdir()
    for photo in sorted(FACES.iterdir())[:2]:
        shutil.copy(photo, few / photo.name)
    (few / "broken.jpg").write_bytes(b"not a jpeg")
    float_xml = converted_ir(vision_settings, "facenet", vision_settings.models.embedder_weights)
    with pytest.raises(CalibrationError, match=f"at least {MIN_FACES} needed"):
        quantized_ir(vision_settings, float_xml, few)
    no_folder = vision_settings.model_copy(update={"models": vision_settings.models.model_copy(
        update={"int8_calibration_faces": None})})
    with pytest.raises(CalibrationError, match="needs int8_calibration_faces"):
        load_plugin("face_embedder", no_folder, embedders[1].device, "facenet_int8")
