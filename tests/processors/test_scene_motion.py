"""The face stage's scene measure (processors/scene_motion.py): does the scene around a face
move with it?

Frames are a shared test photo letterboxed to a 640x480 webcam frame, the face found by the
face stage's own chain. A flat picture moved is the whole frame warped (face and
surroundings as one plane); a real face moved is the face's pixels moved over a scene that
stays where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from processors.batch import DecodedFrame
from processors.face import EnrolledCache, FaceInference
from processors.scene_motion import SceneTracker, grey_copy, measure, scene_view
from processors.vision.imaging import Image, decode_frame, read_image, webcam_jpeg
from schemas.events import FaceResult, FrameHeaders, FrameRef
from tests.conftest import SHARED_WEIGHTS, model_cache, require_testdata
from vigil.core.settings import Settings, load_settings

SHIFT = np.float32([[1.04, 0.0, 22.0], [0.0, 1.04, -8.0]])  # a hand moving the picture


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, fetched_weights: Path) -> Settings:
    return load_settings(state_dir=tmp_path_factory.mktemp("state"),
                         weights_dir=fetched_weights, weights_mirror=SHARED_WEIGHTS,
                         model_cache_dir=model_cache(fetched_weights),
                         kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:9/0")


@pytest.fixture(scope="module")
def infer(settings: Settings) -> Iterator[FaceInference]:
    yield FaceInference(settings, EnrolledCache(lambda client: None))


@pytest.fixture(scope="module")
def still() -> Image:
    photo = read_image(str(require_testdata() / "faces/obama_2.jpg"))
    return decode_frame(webcam_jpeg(photo, quality=90), max_pixels=10**7)


def picture_moved(image: Image) -> Image:
    """The whole frame moved and scaled a little: a flat picture in a moving hand."""
    return cv2.warpAffine(image, SHIFT, (image.shape[1], image.shape[0]),
                          borderMode=cv2.BORDER_REFLECT)


def face_moved(image: Image, box: tuple[float, float, float, float]) -> Image:
    """The face's pixels (its box) moved as the picture above, the room behind left still."""
    moved = picture_moved(image)
    x1, y1, x2, y2 = (int(v) for v in box)
    out = image.copy()
    tx1, ty1 = int(x1 * 1.04 + 22), int(y1 * 1.04 - 8)
    out[ty1:ty1 + (y2 - y1), tx1:tx1 + (x2 - x1)] = moved[ty1:ty1 + (y2 - y1),
                                                          tx1:tx1 + (x2 - x1)]
    return out


def decoded(image: Image, seq: int, at_ms: int, client: str = "alice",
            session: str = "s-1") -> DecodedFrame:
    headers = FrameHeaders(frame_id=f"{client}-{seq}", client_id=client, session_id=session,
                           seq=seq, captured_at=at_ms, received_at=at_ms)
    return DecodedFrame(headers, FrameRef(topic="frames", partition=0, offset=seq), image)


def box_of(result: FaceResult) -> tuple[float, float, float, float]:
    face = result.faces[0]
    return face.box.x1, face.box.y1, face.box.x2, face.box.y2


def test_a_picture_moved_whole_is_flat_a_face_moved_over_a_still_room_is_not(
        infer: FaceInference, still: Image) -> None:
    first = infer([decoded(still, 0, 0)])[0]
    assert len(first.faces) == 1 and first.scene is None  # nothing to compare with yet
    box = box_of(first)
    flat, real = infer([decoded(picture_moved(still), 1, 500),
                        decoded(face_moved(still, box), 0, 500, client="bob")])
    assert flat.scene is not None and flat.scene.motion > 0.1
    assert flat.scene.residual < 0.03  # the landmarks went where the scene took them
    # bob's first frame: no measure; his second, the face moved over his unmoved room.
    assert real.scene is None
    real = infer([decoded(face_moved(still, box), 1, 1000, client="bob")])[0]
    assert real.scene is None or real.scene.motion < 0.01  # the same picture: no motion
    bob = infer([decoded(still, 2, 1500, client="bob")])[0]  # the face back, room still
    assert bob.scene is not None and bob.scene.motion > 0.1
    assert bob.scene.residual > 0.5 * bob.scene.motion


def test_the_tracker_measures_only_within_a_session_and_the_gap(
        infer: FaceInference, still: Image) -> None:
    result = infer([decoded(still, 0, 0, client="carol")])[0]
    marks, box = result.faces[0].landmarks, box_of(result)
    size = (still.shape[1], still.shape[0])
    view = lambda img, at, session="s-1": scene_view(  # noqa: E731
        grey_copy(img), size, box, marks, session, at)
    tracker = SceneTracker(max_gap_ms=2000, clients=2)
    assert tracker.step("c", view(still, 0)) is None
    assert tracker.step("c", view(still, 500)) is not None  # the same picture: measured
    assert tracker.step("c", view(still, 3000)) is None  # past the gap
    assert tracker.step("c", view(still, 3500, "s-2")) is None  # another session
    assert tracker.step("c", None) is None and tracker.step("c", view(still, 4000)) is None
    for client in ("x", "y"):  # two more clients: "c" is forgotten (LRU of 2)
        tracker.step(client, view(still, 4000))
    assert len(tracker) == 2 and tracker.step("c", view(still, 4500)) is None
    assert not SceneTracker(max_gap_ms=0, clients=2).enabled


def test_a_blank_surround_gives_no_measure(still: Image) -> None:
    blank = np.full_like(still, 128)
    marks = [(300.0, 200.0), (340.0, 200.0), (320.0, 225.0), (305.0, 250.0), (335.0, 250.0)]
    size = (blank.shape[1], blank.shape[0])
    before = scene_view(grey_copy(blank), size, (280, 170, 360, 270), marks, "s", 0)
    after = scene_view(grey_copy(blank), size, (290, 170, 370, 270),
                       [(x + 10, y) for x, y in marks], "s", 500)
    assert measure(before, after) is None


def test_two_unrelated_pictures_in_a_row_give_no_measure(infer: FaceInference) -> None:
    """A scene cut (another picture altogether): the ring's tracking finds noise, which no
    homography fits, so nothing is said, flat or not."""
    testdata = require_testdata()
    frames = [decode_frame(webcam_jpeg(read_image(str(testdata / name)), quality=90),
                           max_pixels=10**7) for name in ("faces/obama_2.jpg", "faces/biden_1.jpg")]
    results = infer([decoded(frame, seq, 500 * seq, client="erin")
                     for seq, frame in enumerate(frames)])
    assert all(len(r.faces) == 1 for r in results)
    assert results[1].scene is None
