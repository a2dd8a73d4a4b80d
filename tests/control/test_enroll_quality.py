"""Enrollment quality on real photos: each refusal names the photo and the reason, and a
frame is matched against the closest of several enrolled faces.

The variants are made here from ../shared/testdata: obama_1 shrunk (face about 65 px) and
blurred, and a crop of zidane.jpg around the man turned three-quarters away (MTCNN puts his
nose about 0.5 eye distances off the eyes' middle). The chain uses MTCNN, which finds that
turned face; YuNet does not find it at all at the 0.9 score threshold (so with YuNet the same
photo is refused as "no face found").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from processors.batch import DecodedFrame
from processors.enroll import QualityLimits, analyze_photos
from processors.face import to_face_result
from processors.vision.chain import FaceChain
from processors.vision.imaging import decode_frame, read_image, webcam_jpeg
from schemas.events import FrameHeaders, FrameRef
from tests.conftest import model_cache, require_testdata
from vigil.core.settings import Settings, load_settings
from vigil.core.template import Template


@pytest.fixture(scope="module")
def quality_chain(fetched_weights: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceChain]:
    require_testdata()
    settings = load_settings(state_dir=tmp_path_factory.mktemp("enroll-quality"),
                             weights_dir=fetched_weights, device="cpu", face_detector="mtcnn",
                             face_embedder="facenet_openvino",  # not auto: FaceNet's figures
                             model_cache_dir=model_cache(fetched_weights))
    yield FaceChain.load(settings)


def _write(path: Path, picture: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), picture)
    return path


def _read(path: str) -> np.ndarray:
    return read_image(path)


def test_each_quality_refusal_on_real_photos(quality_chain: FaceChain, tmp_path: Path) -> None:
    testdata = require_testdata()
    sharp = testdata / "faces" / "obama_1.jpg"
    original = read_image(str(sharp))
    small = _write(tmp_path / "small.jpg",
                   cv2.resize(original, None, fx=0.27, fy=0.27, interpolation=cv2.INTER_AREA))
    blurred = _write(tmp_path / "blurred.jpg", cv2.GaussianBlur(original, (0, 0), 6.0))
    zidane = read_image(str(testdata / "objects" / "zidane.jpg"))
    turned = _write(tmp_path / "turned.jpg", zidane[150:570, 400:820])
    screen = testdata / "spoof" / "image_F2.jpg"  # a phone screen showing a face
    settings: Settings = quality_chain.settings
    report = analyze_photos(quality_chain, _read, [sharp, small, blurred, turned, screen],
                            QualityLimits.from_settings(settings))
    refused = dict(report.refused)
    print("\n" + "\n".join(f"{p.name}: {r}" for p, r in report.refused))
    assert report.accepted == [sharp]
    assert refused[small].startswith("the face is too small (")
    assert f"< {settings.enroll.min_face_size} px" in refused[small]
    assert refused[blurred].startswith("the face is too blurred (sharpness ")
    assert refused[turned].startswith("the face is turned away (nose 0.")
    assert refused[screen].startswith("the face is not live (liveness ")


def _frame(picture: np.ndarray) -> DecodedFrame:
    now = int(time.time() * 1000)
    headers = FrameHeaders(frame_id="f-1", client_id="alice", session_id="s-1", seq=1,
                           captured_at=now, received_at=now)
    return DecodedFrame(headers, FrameRef(topic="t", partition=0, offset=0), picture)


def test_every_accepted_photo_is_kept_and_the_closest_matches(quality_chain: FaceChain) -> None:
    faces = require_testdata() / "faces"
    photos = [faces / "obama_1.jpg", faces / "obama_4.jpg"]
    report = analyze_photos(quality_chain, _read, photos,
                            QualityLimits.from_settings(quality_chain.settings))
    assert report.accepted == photos and len(report.embeddings) == 2
    enrolled = np.stack(report.embeddings)
    frame = _frame(decode_frame(webcam_jpeg(read_image(str(faces / "obama_3.jpg")))))
    (found,) = quality_chain.run([frame.image])
    each = np.linalg.norm(enrolled - found.faces[0].embedding, axis=1)
    assert each.max() - each.min() > 0.02, each  # the two photos are not equally close
    result = to_face_result(frame, found, Template(enrolled), quality_chain.settings, "cpu", 0,
                            {})
    assert result.faces[0].distance == pytest.approx(float(each.min()), abs=1e-5)
    assert result.match
