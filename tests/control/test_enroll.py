"""Enrollment: which photos are accepted, what is stored, and the real face chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from control.users.repository import open_repository
from processors.enroll import QualityLimits, analyze_photos
from tests.conftest import Infra, make_settings, require_testdata
from vigil.apps.cli import main
from vigil.core.settings import Settings

FRONTAL = ((60.0, 80.0), (140.0, 80.0), (100.0, 110.0), (70.0, 150.0), (130.0, 150.0))
LIMITS = QualityLimits(min_face_size=80, max_yaw=0.4, min_sharpness=25, liveness_threshold=0.5)


@dataclass(frozen=True)
class FakeFace:
    embedding: npt.NDArray[np.float32]
    liveness: float
    box: tuple[float, float, float, float] = (20.0, 20.0, 180.0, 190.0)
    landmarks: tuple[tuple[float, float], ...] = FRONTAL


@dataclass(frozen=True)
class FakeFaces:
    faces: tuple[FakeFace, ...]


class FakeChain:
    """Answers per image (keyed by the image's first pixel value) what the test says."""

    def __init__(self, answers: dict[int, FakeFaces]) -> None:
        self.answers = answers
        self.versions = {"face_embedder": "fake@0123abcd"}

    def run(self, frames: Sequence[npt.NDArray[np.uint8]]) -> Sequence[FakeFaces]:
        return [self.answers[int(f[0, 0, 0])] for f in frames]


def _read(path: str) -> npt.NDArray[np.uint8]:
    """A 200x200 picture of noise (sharp) whose first pixel is the file's number; "flat"
    gives a uniform picture (no detail at all)."""
    if path.endswith("missing.jpg"):
        raise OSError("No such file")
    stem = Path(path).stem
    picture = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    if stem.startswith("flat"):
        picture[:] = 128
    picture[0, 0, 0] = int(stem.removeprefix("flat"))
    return picture


def test_each_refusal_names_the_image_and_the_reason() -> None:
    face = FakeFace(np.full(512, 2.0, np.float32), 0.9)
    turned = ((60.0, 80.0), (140.0, 80.0), (150.0, 110.0), (70.0, 150.0), (130.0, 150.0))
    chain = FakeChain({1: FakeFaces((face,)), 2: FakeFaces(()),
                       3: FakeFaces((face, face)), 4: FakeFaces((FakeFace(face.embedding, 0.2),)),
                       5: FakeFaces((FakeFace(face.embedding, 0.9, (20, 20, 90, 90)),)),
                       6: FakeFaces((FakeFace(face.embedding, 0.9, landmarks=turned),)),
                       7: FakeFaces((face,))})
    paths = [Path(f"{n}.jpg") for n in (1, 2, 3, 4, 5, 6)] + [Path("flat7.jpg"),
                                                              Path("missing.jpg")]
    report = analyze_photos(chain, _read, paths, LIMITS)
    assert report.accepted == [Path("1.jpg")]
    assert np.isclose(np.linalg.norm(report.embeddings[0]), 1.0)  # stored unit length
    refused = dict(report.refused)
    assert refused[Path("2.jpg")] == "no face found"
    assert refused[Path("3.jpg")].startswith("2 faces found")
    assert refused[Path("4.jpg")].startswith("the face is not live (liveness 0.20")
    assert refused[Path("5.jpg")].startswith("the face is too small (70 px < 80 px)")
    assert refused[Path("6.jpg")].startswith("the face is turned away (nose 0.62 eye distances")
    assert refused[Path("flat7.jpg")].startswith("the face is too blurred (sharpness 0 < 25")
    assert refused[Path("missing.jpg")].startswith("cannot read the image")


def run_cli(*argv: str) -> int:
    """The `vigil` command in this process, errors mapped as a user sees them."""
    return main(list(argv))


@pytest.mark.integration
@pytest.mark.weights
def test_enroll_with_the_real_chain(infra: Infra, namespace: str, tmp_path: Path,
                                    fetched_weights: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.core.topics import create_topics

    testdata = require_testdata()
    settings: Settings = make_settings(infra, namespace, tmp_path / "state", fetched_weights,
                                       device="cpu")
    create_topics(settings)
    for name, value in {"KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
                        "REDIS_URL": settings.redis.url, "NAMESPACE": namespace,
                        "STATE_DIR": str(settings.deployment.state_dir),
                        "WEIGHTS_DIR": str(fetched_weights), "DEVICE": "cpu",
                        # named, not auto: the figures below are FaceNet's, whatever the mirror
                        "FACE_EMBEDDER": "facenet_openvino"}.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)
    table = testdata / "objects" / "tflite_examples_table.jpg"
    spoof = testdata / "spoof" / "image_F2.jpg"  # a photo of a screen
    assert run_cli("enroll", "alice", str(table), str(spoof)) == 1  # none accepted: none stored
    out = capsys.readouterr()
    assert f"refused  {table}: no face found" in out.err
    assert f"refused  {spoof}: the face is not live" in out.err
    repo = open_repository(settings)
    assert repo.get("alice") is None

    photos = [testdata / "faces" / "obama_1.jpg", testdata / "faces" / "obama_2.jpg", table]
    assert run_cli("enroll", "alice", *map(str, photos), "--name", "Alice") == 0
    out = capsys.readouterr()
    assert "enrolled alice with 2 photo(s)" in out.out
    assert f"refused  {table}: no face found" in out.err
    embeddings = repo.embeddings("alice")
    assert embeddings is not None and embeddings.shape == (2, 512)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    # The two photos of one person are within the verification threshold of each other.
    assert float(np.linalg.norm(embeddings[0] - embeddings[1])) <= settings.models.verify

    assert run_cli("enroll", "alice", str(photos[0])) == 0  # re-enrolling replaces
    assert repo.embeddings("alice").shape == (1, 512)  # type: ignore[union-attr]

    # Bob's own threshold is set against the cohort of the other enrolled clients (alice).
    biden = [testdata / "faces" / "biden_1.jpg", testdata / "faces" / "biden_2.jpg"]
    assert run_cli("enroll", "bob", *map(str, biden)) == 0
    template = repo.template("bob")
    assert template is not None and template.threshold is not None
    alice = repo.embeddings("alice")
    assert alice is not None
    nearest = float(np.linalg.norm(template.embeddings - alice[0], axis=1).min())
    assert template.threshold <= min(settings.models.verify, nearest) or (
        "look-alike" in template.threshold_basis)
    assert [sorted(q) for q in template.qualities] == [["face_px", "liveness", "sharpness",
                                                        "yaw"]] * 2
    capsys.readouterr()
    assert run_cli("clients", "show", "bob") == 0
    shown = capsys.readouterr().out
    assert f"verify threshold: {template.threshold:.3f}" in shown
    assert "2 embedding(s) of 512 dimensions by facenet_openvino@b5aac4f6" in shown
    assert "photo 2: face_px=" in shown
    assert template.embedder == "facenet_openvino@b5aac4f6"  # the configured embedder's file
    repo.close()
