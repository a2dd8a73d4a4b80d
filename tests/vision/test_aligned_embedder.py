"""The MobileFaceNet (ArcFace family) embedder on real photos: faces aligned by YuNet's
landmarks, one person's photos closer than two people's. Skips when its weights file (not yet
in the shared mirror) is absent."""

from __future__ import annotations

from itertools import combinations
from typing import cast

import numpy as np
import pytest

from processors.vision.aligned_embedder import (
    ALIGNED_SIZE,
    ARCFACE_TEMPLATE,
    AlignedEmbedder,
    MissingLandmarksError,
    align_face,
)
from processors.vision.base import FramePlugin
from processors.vision.device import select_device
from processors.vision.mobilefacenet import MOBILEFACENET
from processors.vision.registry import load_plugin
from processors.vision.results import FaceDetections
from tests.vision.conftest import FACES, MIRROR, as_webcam, needs_testdata
from vigil.core.settings import Settings

pytestmark = [needs_testdata, pytest.mark.skipif(
    not (MIRROR / MOBILEFACENET.weights).is_file(),
    reason=f"{MOBILEFACENET.weights} is not in the weights mirror {MIRROR} (optional: see "
    "weights/manifest.toml)")]
PEOPLE = {"obama": ("obama_1.jpg", "obama_2.jpg", "obama_3.jpg"),
          "kit_harington": ("kit_harington_1.jpg", "kit_harington_2.jpg"),
          "biden": ("biden_1.jpg", "biden_2.jpg"),
          "rose_leslie": ("rose_leslie_1.jpg", "rose_leslie_2.jpg")}


@pytest.fixture(scope="module")
def plugins(vision_settings: Settings) -> tuple[FramePlugin[FaceDetections], AlignedEmbedder]:
    device = select_device(vision_settings, False)
    detector = load_plugin("face_detector", vision_settings, device, "yunet")
    embedder = load_plugin("face_embedder", vision_settings, device, "mobilefacenet")
    assert isinstance(embedder, AlignedEmbedder)
    return cast(FramePlugin[FaceDetections], detector), embedder


def test_one_persons_photos_are_closer_than_two_peoples(
        plugins: tuple[FramePlugin[FaceDetections], AlignedEmbedder]) -> None:
    detector, embedder = plugins
    frames = {f"{who}/{name}": as_webcam(FACES / name)
              for who, names in PEOPLE.items() for name in names}
    found = {key: detector.infer([frame])[0].faces[0] for key, frame in frames.items()}
    vectors = {key: embedder.infer_faces([frames[key]], [[face]])[0][0]
               for key, face in found.items()}
    assert all(v.shape == (128,) and abs(float(np.linalg.norm(v)) - 1) < 1e-4
               for v in vectors.values())
    same, other = [], []
    for a, b in combinations(vectors, 2):
        distance = float(np.linalg.norm(vectors[a] - vectors[b]))
        (same if a.split("/")[0] == b.split("/")[0] else other).append(distance)
    assert max(same) < min(other), (sorted(same), sorted(other))


def test_alignment_puts_the_landmarks_on_the_template_and_boxes_alone_are_refused(
        plugins: tuple[FramePlugin[FaceDetections], AlignedEmbedder]) -> None:
    detector, embedder = plugins
    frame = as_webcam(FACES / "obama_1.jpg")
    face = detector.infer([frame])[0].faces[0]
    aligned = align_face(frame, face.landmarks)
    assert aligned.shape == (ALIGNED_SIZE, ALIGNED_SIZE, 3)
    # The same warp maps the detector's landmarks onto the template, within a few pixels.
    found_again = detector.infer([np.pad(aligned, ((40, 40), (40, 40), (0, 0)))])[0].faces
    if found_again:  # YuNet may not find a 112 px face; when it does, its points agree
        points = np.asarray(found_again[0].landmarks) - 40
        assert float(np.abs(points - ARCFACE_TEMPLATE).max()) < 8.0
    with pytest.raises(MissingLandmarksError):
        embedder.infer([frame], [[face.box]])
    with pytest.raises(MissingLandmarksError):
        align_face(frame, face.landmarks[:3])


def test_several_faces_in_one_call_embed_as_one_at_a_time(
        plugins: tuple[FramePlugin[FaceDetections], AlignedEmbedder]) -> None:
    # The file's batch size is fixed at 1: the face stage and enrollment pass several faces.
    detector, embedder = plugins
    frames = [as_webcam(FACES / name) for name in PEOPLE["obama"]]
    faces = [detector.infer([frame])[0].faces[0] for frame in frames]
    together = embedder.infer_faces(frames, [[face] for face in faces])
    alone = [embedder.infer_faces([frame], [[face]])[0]
             for frame, face in zip(frames, faces, strict=True)]
    assert np.allclose(np.stack([v[0] for v in together]), np.stack([v[0] for v in alone]),
                       atol=1e-5)
