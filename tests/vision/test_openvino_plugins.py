"""The OpenVINO twins of other plug-ins (facenet_openvino, minifasnet_openvino of the torch
ones, celebaspoof_openvino of the onnxruntime one) on real photos: the same embeddings,
scores and verdicts; the IR converted once and reused;
a face process on them never imports torch."""

from __future__ import annotations

import itertools
import subprocess
import sys
from typing import cast

import numpy as np
import pytest

from processors.vision.base import FacePlugin
from processors.vision.chain import FaceChain, l2_distance
from processors.vision.openvino_ir import ModelConversionError, converted_ir, cpu_has_bf16
from processors.vision.registry import Role, load_plugin, uses_torch
from processors.vision.results import BoxXYXY
from tests.vision.conftest import FACES, SPOOF, as_webcam, needs_testdata
from vigil.core.settings import Settings, load_settings

pytestmark = needs_testdata
PICTURES = (*sorted(FACES.iterdir()), *(SPOOF / n for n in ("image_T1.jpg", "image_F1.jpg",
                                                              "image_F2.jpg")))


@pytest.fixture(scope="module")
def frames_and_boxes(chain: FaceChain) -> tuple[list[np.ndarray], list[list[BoxXYXY]]]:
    frames = [as_webcam(p) for p in PICTURES]
    return frames, [[f.box for f in d.faces] for d in chain.detector.infer(frames)]


# (precision, how far a distance or a score may move); bf16 only where the CPU has it.
PRECISIONS = [pytest.param("f32", 1e-3, id="f32"),
              pytest.param("bf16", 0.01, id="bf16", marks=pytest.mark.skipif(
                  not cpu_has_bf16(), reason="this CPU has no bf16 (AVX512-BF16 or AMX)"))]


def _plugins(settings: Settings, chain: FaceChain, role: Role, names: tuple[str, str],
             precision: str = "f32") -> list[FacePlugin[object]]:
    # Liveness at f32 (its own liveness_precision): the scores stay the reference's.
    settings = settings.replace(openvino_precision=precision, liveness_precision="f32")
    return [cast(FacePlugin[object], load_plugin(role, settings, chain.device, n)) for n in names]


def _same_side(before: float, after: float, threshold: float, slack: float) -> bool:
    """Both on one side of the threshold, unless the reference lies within ``slack`` of it."""
    return (before <= threshold) == (after <= threshold) or abs(before - threshold) < slack


@pytest.mark.parametrize("precision,moves", PRECISIONS)
def test_openvino_facenet_embeds_as_torch_and_verifies_the_same(
        vision_settings: Settings, chain: FaceChain, precision: str, moves: float,
        frames_and_boxes: tuple[list[np.ndarray], list[list[BoxXYXY]]]) -> None:
    frames, boxes = frames_and_boxes
    assert all(len(b) == 1 for b in boxes)
    torch_plugin, openvino = _plugins(vision_settings, chain, "face_embedder",
                                      ("facenet", "facenet_openvino"), precision)
    expected = [e[0] for e in torch_plugin.infer(frames, boxes)]
    got = [e[0] for e in openvino.infer(frames, boxes)]
    cosines = [float(np.dot(a, b)) for a, b in zip(expected, got, strict=True)]
    assert min(cosines) >= 1 - moves, cosines
    threshold = vision_settings.models.verify
    for i, j in itertools.combinations(range(len(frames)), 2):
        before, after = l2_distance(expected[i], expected[j]), l2_distance(got[i], got[j])
        assert _same_side(before, after, threshold, moves), (PICTURES[i], PICTURES[j])
        assert abs(before - after) < moves


@pytest.mark.parametrize("precision", ["f32", "bf16"])
@pytest.mark.parametrize("reference,openvino_name", [("minifasnet", "minifasnet_openvino"),
                                                   ("celebaspoof", "celebaspoof_openvino")])
def test_openvino_liveness_scores_as_its_reference(
        vision_settings: Settings, chain: FaceChain, reference: str, openvino_name: str,
        precision: str, frames_and_boxes: tuple[list[np.ndarray], list[list[BoxXYXY]]]) -> None:
    # Liveness runs at liveness_precision whatever openvino_precision says.
    frames, boxes = frames_and_boxes
    reference_plugin, openvino = _plugins(vision_settings, chain, "liveness_model",
                                          (reference, openvino_name), precision)
    expected = np.array([s[0] for s in reference_plugin.infer(frames, boxes)])
    got = np.array([s[0] for s in openvino.infer(frames, boxes)])
    assert np.abs(expected - got).max() < 1e-4, (expected, got)
    live = vision_settings.models.liveness_threshold
    assert ((expected >= live) == (got >= live)).all()
    assert (got >= live).any() and (got < live).any()  # both verdicts occur among these


def test_the_ir_is_converted_once_then_reused(vision_settings: Settings,
                                              chain: FaceChain) -> None:
    first = converted_ir(vision_settings, "facenet", vision_settings.models.embedder_weights)
    stamp = first.stat().st_mtime_ns
    load_plugin("face_embedder", vision_settings, chain.device, "facenet_openvino")
    again = converted_ir(vision_settings, "facenet", vision_settings.models.embedder_weights)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert vision_settings.models.embedder_weights.removesuffix(".pt") in first.parent.name
    leftovers = [p.name for p in vision_settings.weights.model_cache_path.iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []


def test_a_failed_conversion_names_the_weights_and_the_way_out(
        vision_settings: Settings) -> None:
    settings = vision_settings.replace(model_cache_dir=vision_settings.deployment.state_dir / "x")
    with pytest.raises(ModelConversionError, match=r"2\.7_80x80_MiniFASNetV2\.pth.*torch plug-in"):
        converted_ir(settings, "no-such-network", "2.7_80x80_MiniFASNetV2.pth")


def test_an_ensemble_runs_on_torch_only_when_a_member_does() -> None:
    assert not uses_torch("liveness_model", load_settings(
        liveness_ensemble=("minifasnet_openvino", "celebaspoof")))
    assert uses_torch("liveness_model", load_settings(
        liveness_ensemble=("minifasnet", "celebaspoof")))


TORCH_FREE_FACE = """
import sys
from processors.vision.chain import FaceChain
from processors.vision.imaging import decode_frame, read_image, webcam_jpeg
from vigil.core.settings import load_settings
settings = load_settings(state_dir=sys.argv[1], weights_dir=sys.argv[2],
                         face_embedder="facenet_openvino",
                         liveness_ensemble=("minifasnet_openvino", "celebaspoof"))
frame = decode_frame(webcam_jpeg(read_image(sys.argv[3])))
faces = FaceChain.load(settings).run([frame])[0].faces
print(len(faces), faces[0].live, "torch" in sys.modules)
"""


def test_a_face_process_on_openvino_never_loads_torch(vision_settings: Settings,
                                                      chain: FaceChain) -> None:
    for network, weights in (("facenet", vision_settings.models.embedder_weights),
                             *(("minifasnet", w) for w in vision_settings.models.liveness_weights)):
        converted_ir(vision_settings, network, weights)  # cached, as after a first start
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            TORCH_FREE_FACE,
            str(vision_settings.deployment.state_dir),
            str(vision_settings.weights.path),
            str(SPOOF / "image_T1.jpg"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.split() == ["1", "True", "False"], out.stderr[-2000:]


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 (AVX512-BF16 or AMX)")
@pytest.mark.parametrize("name", ["minifasnet_openvino", "celebaspoof_openvino"])
def test_liveness_precision_bf16_scores_near_f32(
        vision_settings: Settings, chain: FaceChain, name: str,
        frames_and_boxes: tuple[list[np.ndarray], list[list[BoxXYXY]]]) -> None:
    # liveness_precision is the liveness models' own: bf16 moves their scores a little.
    frames, boxes = frames_and_boxes
    f32, bf16 = (cast(FacePlugin[float], load_plugin(
        "liveness_model", vision_settings.replace(liveness_precision=p), chain.device, name))
        for p in ("f32", "bf16"))
    expected = np.array([s[0] for s in f32.infer(frames, boxes)])
    got = np.array([s[0] for s in bf16.infer(frames, boxes)])
    assert 0 < np.abs(expected - got).max() < 0.06, np.abs(expected - got)
