"""The real models on real photos: faces, verification, liveness and phones.

Each check runs on the images as stored ("original") and as a webcam client sends them
("webcam": letterboxed to 640x480, JPEG quality 60).
"""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import pytest

from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain, l2_distance
from processors.vision.imaging import content_bounds
from processors.vision.quality import measure
from processors.vision.results import FrameFaces, PhoneDetections
from tests.vision.conftest import FACES, OBJECTS, SPOOF, VARIANTS, needs_testdata

pytestmark = needs_testdata
variants = pytest.mark.parametrize("variant", sorted(VARIANTS))


def identity(path: Path) -> str:
    """``obama_2.jpg`` -> ``obama``; ``paul_rudd.jpg`` -> ``paul_rudd``."""
    stem = path.stem
    head, _, tail = stem.rpartition("_")
    return head if tail.isdigit() else stem


@cache
def _run(chain: FaceChain, variant: str, paths: tuple[Path, ...]) -> tuple[FrameFaces, ...]:
    # One chain call for the whole list: frames of different sizes in one batch.
    return tuple(chain.run([VARIANTS[variant](p) for p in paths]))


def face_images() -> tuple[Path, ...]:
    return tuple(sorted(FACES.iterdir()))


@variants
def test_one_face_per_portrait_and_none_on_the_table(chain: FaceChain, variant: str) -> None:
    paths = face_images() + tuple(sorted(SPOOF.glob("*.jpg")))
    counts = {p.name: len(r.faces) for p, r in zip(paths, _run(chain, variant, paths),
                                                  strict=True)}
    assert counts == dict.fromkeys(counts, 1), counts
    (table,) = _run(chain, variant, (OBJECTS / "tflite_examples_table.jpg",))
    assert table.faces == ()
    face = _run(chain, variant, paths)[0].faces[0]
    assert len(face.landmarks) == 5 and face.embedding.shape == (512,)
    assert abs(float((face.embedding**2).sum()) - 1.0) < 1e-4


@variants
def test_verification_threshold_separates_people(chain: FaceChain, variant: str) -> None:
    paths = face_images()
    embeddings = {p: r.faces[0].embedding for p, r in zip(paths, _run(chain, variant, paths),
                                                         strict=True)}
    threshold = chain.settings.models.verify
    wrong: list[str] = []
    print(f"\n{variant}: L2 distances (threshold {threshold})")
    for a, b in itertools.combinations(paths, 2):
        same = identity(a) == identity(b)
        distance = l2_distance(embeddings[a], embeddings[b])
        accepted = distance <= threshold
        flag = "" if accepted == same else "  <-- wrong"
        print(f"  {'same' if same else 'diff'} {distance:.3f} {a.stem} / {b.stem}{flag}")
        if accepted != same:
            wrong.append(f"{a.stem}/{b.stem} {distance:.3f} ({'same' if same else 'diff'})")
    # Every pair judged right but the two that sit at FaceNet's global threshold (1.00, the
    # development identity sets' FMR 1%: docs/identity.md): two people who look alike
    # (angelina_jolie / kate_siegel, 0.99-1.00 apart) and one person's photos taken apart
    # (alex_lacamoire_1 / alex_lacamoire_3, 1.00-1.03).
    near = ("angelina_jolie/kate_siegel", "alex_lacamoire_1/alex_lacamoire_3")
    assert all(w.startswith(near) for w in wrong), wrong


@variants
def test_liveness_tells_live_face_from_photo_and_screen(chain: FaceChain, variant: str) -> None:
    names = ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")
    results = _run(chain, variant, tuple(SPOOF / n for n in names))
    scores = {n: r.faces[0].liveness for n, r in zip(names, results, strict=True)}
    print(f"\n{variant}: liveness {scores}")
    assert results[0].faces[0].live, scores
    assert not results[1].faces[0].live and not results[2].faces[0].live, scores
    assert all(0.0 <= s <= 1.0 for s in scores.values())


PHONE_CASES = [
    pytest.param(
        "coco_train2017_000000001655_phone.jpg", "original", True,
        marks=pytest.mark.xfail(strict=True, reason=(
            "measured: the default YOLO11n int8 (OpenVINO, views whole+tiled) scores this "
            "phone 0.149 as stored (0.151 with whole+shrunk), where the TFLite YOLOv8n (the "
            "earlier default) scored 0.43; chosen anyway for the development set's recall "
            "and cost (README)")),
    ),
    ("coco_val2017_000000001296_face_phone.jpg", "webcam", True),
    ("tflite_examples_table.jpg", "original", False),
    ("tflite_examples_table.jpg", "webcam", False),
    ("bus.jpg", "original", False),
    ("bus.jpg", "webcam", False),
    ("zidane.jpg", "original", False),
    ("zidane.jpg", "webcam", False),
    pytest.param(
        "coco_train2017_000000001655_phone.jpg", "webcam", True,
        marks=pytest.mark.xfail(strict=True, reason=(
            "measured: the default YOLO11n int8 (OpenVINO, views whole+tiled) scores this "
            "phone 0.162 at JPEG q60 (0.145 with whole+shrunk; the TFLite YOLOv8n: 0.41 "
            "letterboxed, 0.13 at q60); a small phone seen from behind, a model limit, not a "
            "pipeline bug")),
    ),
]


@pytest.mark.parametrize(("name", "variant", "expected"), PHONE_CASES)
def test_phone_detection(phone: FramePlugin[PhoneDetections], name: str, variant: str,
                         expected: bool) -> None:
    (result,) = phone.infer([VARIANTS[variant](OBJECTS / name)])
    print(f"\n{name} {variant}: {[round(p.confidence, 3) for p in result.phones]}")
    assert result.phone is expected
    if expected:
        best = result.phones[0]
        assert best.confidence >= 0.3
        x1, y1, x2, y2 = best.box
        assert 0 <= x1 < x2 and 0 <= y1 < y2


@variants
def test_letterbox_bars_do_not_make_a_live_face_look_like_a_screen(
    chain: FaceChain, variant: str
) -> None:
    # Portrait photos letterboxed to 640x480 scored 0.003 (obama_2) and 0.497 (the woman)
    # while the liveness crops took in the black bars; the crops now stay in the picture.
    paths = (FACES / "obama_2.jpg", OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    results = _run(chain, variant, paths)
    scores = {p.name: r.faces[0].liveness for p, r in zip(paths, results, strict=True)}
    print(f"\n{variant}: liveness {scores}")
    assert all(r.faces[0].live for r in results), scores


def test_the_chain_finds_each_frames_bars_once_and_scores_as_each_frame_alone(
        chain: FaceChain) -> None:
    # The chain finds a frame's letterbox bars once and hands them to every liveness model and
    # the quality gate. In batches of webcam frames whose bars differ (portrait and landscape
    # photos), each face scores bit for bit as its frame alone, the bars found by the model.
    paths = face_images() + tuple(sorted(SPOOF.glob("*.jpg")))
    frames = [VARIANTS["webcam"](p) for p in paths]
    assert len({content_bounds(frame) for frame in frames}) >= 3
    compared = 0
    for start in range(0, len(frames), 4):
        batch = frames[start:start + 4]
        for frame, result in zip(batch, chain.run(batch), strict=True):
            boxes = [face.box for face in result.faces]
            assert [face.liveness for face in result.faces] == chain.liveness.infer(
                [frame], [boxes])[0]
            assert [face.quality for face in result.faces] == [measure(frame, box)
                                                              for box in boxes]
            compared += len(boxes)
    assert compared >= len(paths)
