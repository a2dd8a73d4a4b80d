"""The second-wave plug-ins on real photos: YuNet, CelebA-Spoof (fp32, int8), the liveness
ensemble and the YOLO11n OpenVINO phone detector. Each model is loaded once for the module."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, cast

import numpy as np
import pytest

from processors.vision.base import FacePlugin, FramePlugin
from processors.vision.calibration import load_calibration
from processors.vision.chain import FaceChain
from processors.vision.ensemble import EnsembleLiveness, combine_scores
from processors.vision.phone_openvino import OpenVinoPhoneDetector, merge_views
from processors.vision.registry import load_plugin
from processors.vision.results import BoxXYXY, FaceDetections, PhoneBox, PhoneDetections
from processors.vision.yolo_rect import RectInputError, anchor_centres, rect_model
from tests.vision.conftest import FACES, OBJECTS, SPOOF, as_original, as_webcam, needs_testdata
from vigil.core.settings import Settings, SettingsError, load_settings

pytestmark = needs_testdata
LIVENESS_NAMES = ("celebaspoof", "celebaspoof_int8")
SPOOF_NAMES = ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")
# The phone of COCO val2017 000000001296 in its 640x480 webcam frame (the picture is scaled by
# 0.75 and centred, 160 px from the left): x 300-371, y 142-280 in the original.
PHONE_1296_WEBCAM = (160 + 300 * 0.75, 142 * 0.75, 160 + 371 * 0.75, 280 * 0.75)


@pytest.fixture(scope="module")
def yunet(vision_settings: Settings, chain: FaceChain) -> FramePlugin[FaceDetections]:
    return cast(FramePlugin[FaceDetections],
                load_plugin("face_detector", vision_settings, chain.device, "yunet"))


@pytest.fixture(scope="module")
def mtcnn(vision_settings: Settings, chain: FaceChain) -> FramePlugin[FaceDetections]:
    return cast(FramePlugin[FaceDetections],
                load_plugin("face_detector", vision_settings, chain.device, "mtcnn"))


@pytest.fixture(scope="module")
def livenesses(vision_settings: Settings, chain: FaceChain) -> dict[str, FacePlugin[float]]:
    return {name: cast(FacePlugin[float],
                       load_plugin("liveness_model", vision_settings, chain.device, name))
            for name in (*LIVENESS_NAMES, "minifasnet")}


@pytest.fixture(scope="module")
def openvino_phone(vision_settings: Settings, chain: FaceChain) -> OpenVinoPhoneDetector:
    plugin = load_plugin("phone_detector", vision_settings, chain.device, "yolo_openvino")
    assert isinstance(plugin, OpenVinoPhoneDetector)
    return plugin


def iou(a: BoxXYXY, b: BoxXYXY) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def test_yunet_finds_each_portrait_like_mtcnn(yunet: FramePlugin[FaceDetections],
                                              mtcnn: FramePlugin[FaceDetections]) -> None:
    paths = sorted(FACES.iterdir())
    frames = [as_webcam(p) for p in paths] + [as_webcam(OBJECTS / "tflite_examples_table.jpg")]
    found, reference = yunet.infer(frames), mtcnn.infer(frames)
    assert [len(r.faces) for r in found] == [1] * len(paths) + [0]
    for path, ours, theirs in zip(paths, found, reference, strict=False):
        face, other = ours.faces[0], theirs.faces[0]
        assert iou(face.box, other.box) > 0.6, path.name
        # Same landmark order as MTCNN: picture-left eye, other eye, nose, mouth left, right.
        distances = [np.hypot(a[0] - b[0], a[1] - b[1])
                     for a, b in zip(face.landmarks, other.landmarks, strict=True)]
        assert max(distances) < 0.2 * face.size, (path.name, distances)


def test_yunet_finds_a_face_larger_than_it_was_trained_on(
        yunet: FramePlugin[FaceDetections]) -> None:
    # paul_rudd.jpg is 1638x2048 with a face about 1000 px wide: YuNet at full size finds no
    # face; the plug-in shrinks large frames to 640 px first.
    (found,) = yunet.infer([as_original(FACES / "paul_rudd.jpg")])
    assert len(found.faces) == 1 and found.faces[0].size > 800


@pytest.mark.parametrize("name", LIVENESS_NAMES)
def test_celebaspoof_tells_live_from_print_and_screen(
        livenesses: dict[str, FacePlugin[float]], mtcnn: FramePlugin[FaceDetections],
        name: str) -> None:
    frames = [as_webcam(SPOOF / n) for n in SPOOF_NAMES]
    boxes = [[f.box for f in d.faces] for d in mtcnn.infer(frames)]
    scores = [s[0] for s in livenesses[name].infer(frames, boxes)]
    print(f"\n{name}: {dict(zip(SPOOF_NAMES, scores, strict=True))}")
    assert scores[0] >= 0.9 and scores[1] < 0.1 and scores[2] < 0.1, scores
    # One batch of every face equals one call per face (the int8 file runs faces one at a
    # time: its dynamic quantization would make a score depend on the batch).
    alone = [livenesses[name].infer([f], [b])[0][0] for f, b in zip(frames, boxes, strict=True)]
    assert np.allclose(scores, alone, atol=1e-5)


def test_ensemble_combines_its_members_scores(vision_settings: Settings, chain: FaceChain,
                                              livenesses: dict[str, FacePlugin[float]],
                                              mtcnn: FramePlugin[FaceDetections]) -> None:
    frames = [as_webcam(SPOOF / n) for n in SPOOF_NAMES]
    boxes = [[f.box for f in d.faces] for d in mtcnn.infer(frames)]
    members = ("minifasnet", "celebaspoof")
    expected = np.min([[s[0] for s in livenesses[m].infer(frames, boxes)] for m in members],
                      axis=0)
    settings = vision_settings.replace(
        liveness_model="ensemble", liveness_ensemble=members, liveness_combine="min",
        liveness_calibrated=False,
    )
    ensemble = load_plugin("liveness_model", settings, chain.device)
    assert isinstance(ensemble, EnsembleLiveness)
    combined = [s[0] for s in ensemble.infer(frames, boxes)]
    assert np.allclose(combined, expected, atol=1e-5)


def test_a_calibrated_ensemble_combines_each_members_p_live(
        vision_settings: Settings, chain: FaceChain, livenesses: dict[str, FacePlugin[float]],
        mtcnn: FramePlugin[FaceDetections]) -> None:
    frames = [as_webcam(SPOOF / n) for n in SPOOF_NAMES]
    boxes = [[f.box for f in d.faces] for d in mtcnn.infer(frames)]
    members = ("minifasnet", "celebaspoof")
    calibration = load_calibration(None)
    calibrated = [calibration.calibrate(m, [s[0] for s in livenesses[m].infer(frames, boxes)])
                  for m in members]
    settings = vision_settings.replace(
        liveness_model="ensemble",
        liveness_ensemble=members,
        liveness_combine="mean",
        liveness_calibrated=True,
    )
    ensemble = load_plugin("liveness_model", settings, chain.device)
    combined = [s[0] for s in ensemble.infer(frames, boxes)]
    assert np.allclose(combined, np.mean(calibrated, axis=0), atol=1e-5)
    # The live face (image_T1) stays over both spoofs after calibration.
    assert combined[0] > max(combined[1:]), combined


def test_combine_rules() -> None:
    members = [[0.9, 0.2, 0.6], [0.5, 0.8, 0.6]]
    assert combine_scores("mean", members) == pytest.approx([0.7, 0.5, 0.6])
    assert combine_scores("min", members) == pytest.approx([0.5, 0.2, 0.6])
    assert combine_scores("product", members) == pytest.approx([0.45, 0.16, 0.36])
    assert combine_scores("min", [[], []]) == []
    with pytest.raises(ValueError, match="unknown liveness_combine 'max'"):
        combine_scores("max", members)


def test_ensemble_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="given twice"):
        load_settings(liveness_ensemble=("minifasnet", "minifasnet"))
    with pytest.raises(SettingsError, match="liveness_ensemble"):
        load_settings(liveness_ensemble=("minifasnet", "ensemble"))


CASES = [("coco_val2017_000000001296_face_phone.jpg", True),
         ("tflite_examples_table.jpg", False), ("bus.jpg", False), ("zidane.jpg", False)]


def test_openvino_phone_detector(openvino_phone: OpenVinoPhoneDetector) -> None:
    frames = [as_webcam(OBJECTS / name) for name, _ in CASES]
    results = openvino_phone.infer(frames)
    print("\n" + ", ".join(f"{n}: {[round(p.confidence, 2) for p in r.phones]}"
                           for (n, _), r in zip(CASES, results, strict=True)))
    assert [r.phone for r in results] == [expected for _, expected in CASES]
    assert iou(results[0].phones[0].box, PHONE_1296_WEBCAM) > 0.5


def test_openvino_decoding_matches_ultralytics(vision_settings: Settings, chain: FaceChain,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Our letterbox, decoding and NMS give Ultralytics' own boxes for the same IR (the whole
    view alone: Ultralytics has no other)."""
    # The square input: Ultralytics runs the IR as exported (the rectangular one is below).
    whole = vision_settings.replace(phone_views=("whole",), phone_rect_input=False)
    openvino_phone = load_plugin("phone_detector", whole, chain.device, "yolo_openvino")
    from processors.vision.phone import prepare_ultralytics

    prepare_ultralytics(vision_settings)
    import openvino as ov
    from ultralytics import YOLO

    # Ours runs f32 around the int8 layers; Ultralytics compiles with OpenVINO's default
    # (bf16 on CPUs that have it), so its compile is given f32 too: the same arithmetic.
    compile_model = ov.Core.compile_model

    def in_f32(core: Any, model: Any, device_name: str = "CPU", config: Any = None) -> Any:
        return compile_model(core, model, device_name,
                             {**(config or {}), "INFERENCE_PRECISION_HINT": "f32"})

    monkeypatch.setattr(ov.Core, "compile_model", in_f32)

    folder = vision_settings.weights.path / os.path.dirname(
        vision_settings.models.phone_openvino_model
    )
    reference: Any = YOLO(str(folder), task="detect")
    frame = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    (theirs,) = reference.predict(frame, imgsz=640, conf=0.1, classes=[67], verbose=False)
    (ours,) = openvino_phone.infer([frame])
    assert len(ours.phones) == len(theirs.boxes) >= 1
    for mine, box, conf in zip(ours.phones, theirs.boxes.xyxy.tolist(),
                               theirs.boxes.conf.tolist(), strict=True):
        assert mine.confidence == pytest.approx(conf, abs=1e-3)
        assert np.allclose(mine.box, box, atol=1.0)


def test_openvino_runs_a_batch_of_mixed_sizes(openvino_phone: OpenVinoPhoneDetector) -> None:
    phone = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    frames = [np.zeros((30, 40, 3), np.uint8), phone, as_original(OBJECTS / "bus.jpg")]
    results: list[PhoneDetections] = openvino_phone.infer(frames)
    assert [r.phone for r in results] == [False, True, False]


TORCH_FREE_PHONE = """
import sys
from processors.phone import PhoneInference
from processors.vision.imaging import decode_frame, read_image, webcam_jpeg
from vigil.core.settings import load_settings
settings = load_settings(weights_dir=sys.argv[1], phone_detector="yolo_openvino")
frame = decode_frame(webcam_jpeg(read_image(sys.argv[2])))
print(PhoneInference(settings).detector.infer([frame])[0].phone, "torch" in sys.modules)
"""


def test_an_openvino_phone_process_never_loads_torch(vision_settings: Settings) -> None:
    picture = OBJECTS / "coco_val2017_000000001296_face_phone.jpg"
    out = subprocess.run([sys.executable, "-c", TORCH_FREE_PHONE,
                          str(vision_settings.weights.path), str(picture)],
                         capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["True", "False"], out.stderr[-2000:]


@pytest.mark.parametrize("view", ["whole", "shrunk", "tiled", "centre", "mirrored"])
def test_each_phone_view_boxes_the_phone_where_it_is(vision_settings: Settings,
                                                     chain: FaceChain, view: str) -> None:
    # Each view alone, its boxes mapped back to the frame: the same phone, in the same place.
    one = vision_settings.replace(phone_views=(view,))
    plugin = load_plugin("phone_detector", one, chain.device, "yolo_openvino")
    (found,) = plugin.infer([as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")])
    boxes = [(round(p.confidence, 2), [round(v) for v in p.box]) for p in found.phones]
    assert found.phones and iou(found.phones[0].box, PHONE_1296_WEBCAM) > 0.5, boxes


@pytest.mark.parametrize("place", range(4))
def test_a_tiled_phone_is_found_in_its_own_frame_only(vision_settings: Settings,
                                                      chain: FaceChain, place: int) -> None:
    # Four frames share one inference; the phone's box goes to its frame, in its place.
    tiled = vision_settings.replace(phone_views=("tiled",))
    plugin = load_plugin("phone_detector", tiled, chain.device, "yolo_openvino")
    others = [as_webcam(OBJECTS / "bus.jpg"), np.full((480, 640, 3), 90, np.uint8),
              as_webcam(FACES / "obama_1.jpg")]
    phone = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    frames = [*others[:place], phone, *others[place:]]
    found = plugin.infer(frames)
    assert [bool(r.phones) for r in found] == [i == place for i in range(4)]
    assert iou(found[place].phones[0].box, PHONE_1296_WEBCAM) > 0.5


def test_the_rect_input_finds_the_square_inputs_phone(vision_settings: Settings,
                                                      chain: FaceChain) -> None:
    # The same frame on the rewritten 640x480 input and on the exported 640x640 square.
    frame = as_webcam(OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    found = {}
    for rect in (True, False):
        one = vision_settings.replace(phone_views=("whole",), phone_rect_input=rect)
        (found[rect],) = load_plugin("phone_detector", one, chain.device,
                                     "yolo_openvino").infer([frame])
    assert found[True].phone and found[False].phone
    assert iou(found[True].phones[0].box, found[False].phones[0].box) > 0.9
    assert abs(found[True].phones[0].confidence - found[False].phones[0].confidence) < 0.15


def test_the_rewritten_anchors_are_the_exported_ones_for_the_square(
        vision_settings: Settings) -> None:
    import openvino as ov

    model = ov.Core().read_model(str(vision_settings.weights.path
                                     / vision_settings.models.phone_openvino_model))
    exported = {tuple(op.get_output_shape(0)): op.get_data() for op in model.get_ordered_ops()
                if op.get_type_name() == "Constant"
                and tuple(op.get_output_shape(0)) in ((1, 2, 8400), (1, 1, 8400))}
    centres, strides = anchor_centres(640, 640)
    assert np.array_equal(exported[(1, 2, 8400)], centres)
    assert np.array_equal(exported[(1, 1, 8400)], strides)
    assert anchor_centres(480, 640)[0].shape == (1, 2, 80 * 60 + 40 * 30 + 20 * 15)
    with pytest.raises(RectInputError, match="multiples of 32"):
        rect_model(model, 640, 470, 640)


def test_views_merge_one_phone_seen_twice_into_one_box() -> None:
    whole = [PhoneBox((100, 100, 150, 200), 0.4), PhoneBox((400, 50, 420, 90), 0.2)]
    shrunk = [PhoneBox((102, 98, 151, 203), 0.6)]
    merged = merge_views([whole, shrunk], 0.1)
    assert [(p.box, p.confidence) for p in merged] == [((102, 98, 151, 203), 0.6),
                                                       ((400, 50, 420, 90), 0.2)]
