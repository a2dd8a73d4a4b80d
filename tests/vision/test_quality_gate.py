"""The quality gate on real faces: the face chain measures each face, the shipped policy's
limits name what is wrong with a dark, blurred, burnt-out, distant or too close face and
nothing in the picture as taken (processors/vision/quality.py, processors/decide/graded.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from processors.decide.policy_file import DEFAULT_POLICY_FILE, load_policy
from processors.face import face_quality
from processors.vision.chain import FaceChain
from processors.vision.imaging import (
    Image,
    content_bounds,
    decode_frame,
    letterbox,
    read_image,
    webcam_jpeg,
)
from processors.vision.quality import face_fill, measure
from schemas.events import QualityIssue
from tests.vision.conftest import FACES, SPOOF, needs_testdata
from vigil.core.settings import Settings

PICTURES = (SPOOF / "image_T1.jpg", FACES / "obama_1.jpg")


def dark(image: Image) -> Image:
    return np.asarray(np.clip(image.astype(np.float32) * 0.08, 0, 255), dtype=np.uint8)


def blurred(image: Image) -> Image:
    sigma = 8.0 * max(image.shape[:2]) / 640
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8)


def burnt(image: Image) -> Image:
    return np.asarray(np.clip(image.astype(np.float32) * 3.0 + 40, 0, 255), dtype=np.uint8)


def distant(image: Image) -> Image:
    """The picture a quarter of its size in the middle of a grey 640x480 frame."""
    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    scale = min(480 / image.shape[0], 640 / image.shape[1]) / 4
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    return frame


def close_up(chain: FaceChain, image: Image) -> Image:
    """The picture cut to its main face's box: the face fills it, as when a person sits with
    their face at the lens (or a face crop is sent)."""
    frame = decode_frame(webcam_jpeg(image))
    [found] = chain.run([frame])
    x1, y1, x2, y2 = (int(v) for v in max(
        found.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).box)
    return frame[max(0, y1):y2, max(0, x1):x2].copy()


def issues_of(chain: FaceChain, settings: Settings, path: Path, change: object) -> list[str]:
    """What the shipped gate finds wrong with the main face of the changed picture."""
    image = read_image(str(path))
    if change is close_up:
        image = close_up(chain, image)
    elif callable(change):
        image = change(image)
    frame = decode_frame(webcam_jpeg(image))
    [found] = chain.run([frame])
    if not found.faces:
        return ["no face"]
    gate = load_policy(DEFAULT_POLICY_FILE, settings).quality
    return [i.value for i in gate.issues(face_quality(found.faces[0].quality))]


@needs_testdata
@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_a_face_as_taken_passes_the_gate(chain: FaceChain, vision_settings: Settings,
                                         path: Path) -> None:
    assert issues_of(chain, vision_settings, path, None) == []


@needs_testdata
@pytest.mark.parametrize(("change", "issue"), [
    (dark, QualityIssue.DARK), (blurred, QualityIssue.BLURRED), (burnt, QualityIssue.BRIGHT),
    (distant, QualityIssue.SMALL), (close_up, QualityIssue.LARGE)],
    ids=["dark", "blurred", "burnt", "distant", "close"])
@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_a_poor_picture_names_what_is_wrong(chain: FaceChain, vision_settings: Settings,
                                            path: Path, change: object,
                                            issue: QualityIssue) -> None:
    found = issues_of(chain, vision_settings, path, change)
    # A face the detector no longer finds is no_face (also a lock), not a spoof.
    assert found == ["no face"] or issue.value in found, found


def test_the_fill_is_measured_inside_letterbox_bars() -> None:
    # A 300x480 portrait picture pillarboxed into 640x480: the bars are no room around a face.
    portrait = np.full((480, 300, 3), 120, dtype=np.uint8)
    frame = letterbox(portrait)
    left = (640 - 300) // 2
    box = (left + 15.0, 100.0, left + 285.0, 380.0)  # 270 wide, 280 high
    bounds = content_bounds(frame)
    assert face_fill(box, bounds) == pytest.approx(270 / 300)
    # The same face in a full 640x480 picture spans less of it.
    full = content_bounds(np.full((480, 640, 3), 120, dtype=np.uint8))
    assert face_fill(box, full) == pytest.approx(280 / 480)
    # A box running past the picture's edges fills more than all of it.
    assert face_fill((left - 20.0, -30.0, left + 320.0, 500.0), bounds) > 1
    # measure finds the bounds itself, or takes the ones the chain found for the frame.
    assert measure(frame, box).fill == pytest.approx(270 / 300)
    assert measure(frame, box, bounds) == measure(frame, box)
