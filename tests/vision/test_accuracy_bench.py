"""`vigil bench accuracy`: its rates on hand-made outcomes, its --compare names, the
development set builder, and one run of the real models on a tiny labelled folder."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from processors.batch import DecodedFrame
from processors.decide.graded import LivenessGrades
from processors.decide.policy import Policy
from processors.vision.results import FrameFaces, PhoneDetections
from schemas.events import (
    Action,
    Box,
    Face,
    FaceResult,
    FrameHeaders,
    FrameRef,
    PhoneDetection,
    PhoneResult,
    Reason,
)
from tests.vision.conftest import TESTDATA, needs_testdata
from vigil.apps.bench.accuracy import bench, metrics
from vigil.apps.bench.accuracy.alternatives import (
    AlternativeError,
    Pipeline,
    describe,
    parse_alternative,
    settings_for,
)
from vigil.apps.bench.accuracy.bench import run_accuracy
from vigil.apps.bench.accuracy.dataset import LabelledSetError
from vigil.apps.bench.accuracy.devset import BACKGROUNDS, COPIES, make_devset
from vigil.apps.bench.accuracy.run import AlternativeRun, FrameOutcome, run_alternative
from vigil.core.settings import Settings, load_settings

POLICY = Policy(version="t@0", liveness_threshold=0.5, verify_threshold=1.1,
                phone_threshold=0.3, actions=dict.fromkeys(Reason, Action.LOCK_SCREEN),
                debounce={})


def outcome(liveness: float | None, phone: float = 0.0) -> FrameOutcome:
    """A frame with one enrolled face of this liveness (None: no face) and a phone score."""
    headers = FrameHeaders(frame_id="f", client_id="c", session_id="s", seq=1, captured_at=1,
                           received_at=1)
    common: dict[str, Any] = {"frame_id": "f", "client_id": "c", "session_id": "s", "seq": 1,
              "frame": FrameRef(topic="t", partition=0, offset=0), "captured_at": 1,
              "received_at": 1, "processed_at": 1, "device": "cpu"}
    faces = [] if liveness is None else [
        Face(box=Box(x1=0, y1=0, x2=100, y2=100), score=1.0, liveness=liveness, distance=0.0)]
    face = FaceResult(**common, faces=faces, live=False, match=True, enrolled=True)
    phones = [PhoneDetection(box=Box(x1=0, y1=0, x2=9, y2=9), confidence=phone)] if phone else []
    image = np.zeros((8, 8, 3), np.uint8)
    return FrameOutcome(DecodedFrame(headers, common["frame"], image), FrameFaces(), face,
                        PhoneResult(**common, phones=phones, phone=phone >= 0.3),
                        PhoneDetections())  # the metrics read the PhoneResult


def test_pad_rates_and_the_threshold_sweep() -> None:
    attacks = [outcome(0.3), outcome(0.7), outcome(None)]
    bona_fide = [outcome(0.6), outcome(0.9), outcome(0.95, phone=0.8)]
    apcer, bpcer = metrics.pad_rates(attacks, bona_fide, POLICY)
    assert (str(apcer), str(bpcer)) == ("33.3% (1/3)", "0.0% (0/3)")
    sweep = metrics.liveness_sweep(attacks, bona_fide, POLICY)
    # The most secure threshold with no bona fide refused is 0.6: the 0.7 attack still passes.
    assert str(metrics.apcer_at_bpcer(sweep)) == "33.3% (1/3) @ 0.600"
    # No attack passes from just above 0.7: the 0.6 bona fide face is refused there.
    at = metrics.bpcer_at_apcer(sweep)
    assert at.ratio == metrics.Ratio(1, 3) and at.threshold == pytest.approx(0.7, abs=1e-4)


@pytest.mark.parametrize("grades", [None, LivenessGrades(spoof_below=0.2, certain_below=0.05)])
def test_the_sweep_gives_pad_rates_at_every_threshold(grades: LivenessGrades | None) -> None:
    policy = POLICY if grades is None else replace(POLICY, grades=grades)
    attacks = [outcome(s) for s in (0.01, 0.1, 0.3, 0.3, 0.7, 0.95)] + [outcome(None)]
    bona_fide = [outcome(s) for s in (0.03, 0.15, 0.6, 0.9)] + [outcome(0.95, phone=0.8)]
    for point in metrics.liveness_sweep(attacks, bona_fide, policy):
        assert (point.apcer, point.bpcer) == metrics.pad_rates(
            attacks, bona_fide, replace(policy, liveness_threshold=point.threshold)), point


def test_phone_rates() -> None:
    phones = [outcome(0.9, 0.8), outcome(0.9, 0.2), outcome(None, 0.25)]
    no_phones = [outcome(0.9, 0.1), outcome(0.9)]
    recall, false = metrics.phone_rates(phones, no_phones, 0.3)
    assert (str(recall), str(false)) == ("33.3% (1/3)", "0.0% (0/2)")
    # Just above the no-phone picture's 0.1, every phone is still found.
    assert str(metrics.phone_recall_within(phones, no_phones)) == "100.0% (3/3) @ 0.100"


def test_compare_names() -> None:
    assert parse_alternative("yunet").overrides == {"face_detector": "yunet"}
    both = parse_alternative("yolo_openvino,min:minifasnet+celebaspoof_int8")
    assert both.overrides == {"phone_detector": "yolo_openvino", "liveness_model": "ensemble",
                              "liveness_ensemble": ("minifasnet", "celebaspoof_int8"),
                              "liveness_combine": "min"}
    with pytest.raises(AlternativeError, match=r"names no plug-in; known: .*yunet"):
        parse_alternative("retinaface")
    with pytest.raises(AlternativeError, match="no combine rule 'max'"):
        parse_alternative("max:minifasnet+celebaspoof")
    with pytest.raises(AlternativeError, match="liveness_ensemble"):
        settings_for(load_settings(), parse_alternative("mean:minifasnet+nothing"))
    views = settings_for(load_settings(), parse_alternative("yolo_openvino,views:whole+centre"))
    assert views.models.phone_views == ("whole", "centre")
    assert describe(views).endswith("yolo_openvino views:whole+centre")
    with pytest.raises(AlternativeError, match="phone_views"):
        settings_for(load_settings(), parse_alternative("views:whole+sideways"))
    bf16 = settings_for(load_settings(),
                        parse_alternative("yunet_openvino,openvino_precision=bf16"))
    assert (bf16.models.face_detector, bf16.models.openvino_precision) == ("yunet_openvino", "bf16")
    with pytest.raises(AlternativeError, match="no setting 'precision'"):
        parse_alternative("precision=bf16")
    with pytest.raises(AlternativeError, match="openvino_precision"):
        settings_for(load_settings(), parse_alternative("openvino_precision=fp8"))


def _tiny_testdata(tmp_path: Path, portraits: tuple[str, ...]) -> Path:
    """The pictures the builder copies, plus a few portraits, under a new testdata folder."""
    root = tmp_path / "testdata"
    for relative in (*COPIES, *BACKGROUNDS, *(f"faces/{p}" for p in portraits)):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TESTDATA / relative, root / relative)
    return root


@needs_testdata
def test_devset_builder(vision_settings: Settings, tmp_path: Path) -> None:
    testdata = _tiny_testdata(tmp_path, ("obama_1.jpg", "obama_2.jpg"))
    built = make_devset(vision_settings, testdata, tmp_path / "dev")
    assert dict(built.counts) == {"bona_fide": 6, "attack": 6, "phone": 4, "no_phone": 6,
                                  "identities": 2}
    assert sorted(p.name for p in (tmp_path / "dev/identities/obama").iterdir()) == [
        "obama_1.jpg", "obama_2.jpg"]
    again = make_devset(vision_settings, testdata, tmp_path / "again")
    for kind in ("replay_obama_1.jpg", "print_obama_2.jpg"):
        assert (built.out / "attack" / kind).read_bytes() == (again.out / "attack" /
                                                              kind).read_bytes()
    assert (built.out / "phone/beside_obama_1.jpg").read_bytes() == (
        built.out / "bona_fide/beside_obama_1.jpg").read_bytes()
    with pytest.raises(LabelledSetError, match="exists"):
        make_devset(vision_settings, testdata, built.out)


TINY = {"bona_fide": ("spoof/image_T1.jpg", "faces/obama_1.jpg"),
        "attack": ("spoof/image_F1.jpg", "spoof/image_F2.jpg"),
        "phone": ("objects/coco_val2017_000000001296_face_phone.jpg",),
        "no_phone": ("objects/tflite_examples_table.jpg",),
        "identities/obama": ("faces/obama_1.jpg", "faces/obama_2.jpg"),
        "identities/biden": ("faces/biden_1.jpg",)}


def _cells(table: str, key: str) -> list[str]:
    """The cells of the table's row ``key``."""
    (line,) = [line for line in table.splitlines() if line.split("  ")[0].strip() == key]
    return [cell.strip() for cell in line.split("  ")[1:] if cell.strip()]


@needs_testdata
def test_bench_prints_the_table_with_counts(vision_settings: Settings, tmp_path: Path) -> None:
    for folder, pictures in TINY.items():
        (tmp_path / "set" / folder).mkdir(parents=True)
        for picture in pictures:
            shutil.copyfile(TESTDATA / picture, tmp_path / "set" / folder / Path(picture).name)
    png, scores = tmp_path / "det.png", tmp_path / "scores.csv"
    table = run_accuracy(vision_settings, tmp_path / "set", ["celebaspoof"], False, png,
                         scores_csv=scores)
    print("\n" + table)
    assert "pictures: 8 distinct; bona_fide 2, attack 2, phone 1, no_phone 1" in table
    assert "B = celebaspoof: " in table and " / celebaspoof / " in table
    for key, cell in [("APCER: attacks decided ok", "0.0% (0/2)"),
                      ("BPCER: bona fide decided spoof", "0.0% (0/2)"),
                      ("faces found (bona fide+attack+identities)", "100.0% (6/6)"),
                      ("FMR: impostor pairs matched", "0.0% (0/2)"),
                      ("FNMR: genuine pairs refused", "0.0% (0/1)"),
                      ("phone recall", "100.0% (1/1)"),
                      ("false phone rate", "0.0% (0/1)")]:
        assert _cells(table, key) == [cell, cell], (key, table)
    assert png.read_bytes().startswith(b"\x89PNG")
    with scores.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 8 and {r["alternative"] for r in rows} == {"configured",
                                                                        "celebaspoof"}


@needs_testdata
def test_alternatives_of_policy_knobs_only_share_one_run_of_the_models(
        vision_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "set" / "bona_fide").mkdir(parents=True)
    shutil.copyfile(TESTDATA / "faces/obama_1.jpg", tmp_path / "set" / "bona_fide" / "o.jpg")
    calls: list[str] = []

    def counted(pipeline: Pipeline, frames: Sequence[DecodedFrame], label: str) -> AlternativeRun:
        calls.append(label)
        return run_alternative(pipeline, frames, label)

    monkeypatch.setattr(bench, "run_alternative", counted)
    scores = tmp_path / "scores.csv"
    run_accuracy(vision_settings, tmp_path / "set", ["thresholds.liveness=1.0"], False,
                 tmp_path / "det.png", scores_csv=scores)
    assert calls == ["configured"]
    with scores.open() as handle:
        reasons = {r["alternative"]: r["reason"] for r in csv.DictReader(handle)}
    # The same model outputs, judged by each column's own policy.
    assert reasons == {"configured": "ok", "thresholds.liveness=1.0": "verifying"}
