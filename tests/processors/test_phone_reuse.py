"""The phone stage's gate (processors/phone_reuse.py): when the detector may skip a frame.

Frames are a real webcam-sized picture (a shared test photo letterboxed to 640x480 and
JPEG-encoded as a client sends it), with sensor-like noise for a still scene and a
phone-sized dark shape pasted in for a phone raised into view.
"""

from __future__ import annotations

import numpy as np
import pytest

from processors.phone_reuse import GateFrame, PhoneReuse, scene_change, thumbnail
from processors.vision.imaging import Image, decode_frame, read_image, webcam_jpeg
from processors.vision.results import PhoneBox, PhoneDetections
from tests.conftest import require_testdata

GAP_MS, CHANGE = 3000, 10.0
FOUND = PhoneDetections((PhoneBox((10.0, 10.0, 50.0, 90.0), 0.8, "cell phone"),), True)
NOTHING = PhoneDetections((), False)


@pytest.fixture(scope="module")
def still() -> Image:
    """A webcam frame of a person at a desk (640x480, as the processors decode it)."""
    photo = read_image(str(require_testdata() / "faces/obama_2.jpg"))
    return decode_frame(webcam_jpeg(photo, quality=60), max_pixels=10**7)


def noisy(image: Image, seed: int) -> Image:
    """The same scene a moment later: the sensor's noise (sigma 4 grey levels) re-drawn."""
    noise = np.random.default_rng(seed).normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def with_phone(image: Image) -> Image:
    """A phone (60x120 px, dark with a lighter screen) held up at the right of the frame."""
    raised = image.copy()
    raised[250:370, 470:530] = 25
    raised[262:358, 476:524] = 70
    return raised


def frame(image: Image, at_ms: int, seq: int, client: str = "alice",
          session: str = "s-1") -> GateFrame:
    return GateFrame(f"{client}-{seq}", client, session, at_ms, thumbnail(image))


def ran(reuse: PhoneReuse, frames: list[GateFrame], found: PhoneDetections = FOUND
        ) -> list[str | None]:
    """Plan a batch, run the 'detector' (``found`` for each frame run): reused_from per frame."""
    plan = reuse.plan(frames)
    plan.fill([found] * len(plan.run))
    return [plan.result(i)[1] for i in range(len(frames))]


def test_a_still_scene_within_the_gap_reuses_the_checked_frame(still: Image) -> None:
    reuse = PhoneReuse(GAP_MS, CHANGE, clients=10)
    assert ran(reuse, [frame(still, 0, 0)]) == [None]
    assert ran(reuse, [frame(noisy(still, 1), 1000, 1), frame(noisy(still, 2), 2000, 2)]) == [
        "alice-0", "alice-0"]
    plan = reuse.plan([frame(noisy(still, 3), 3000, 3)])
    plan.fill([])
    assert plan.result(0) == (FOUND, "alice-0")  # the checked frame's detections themselves


def test_a_phone_raised_after_still_frames_is_checked(still: Image) -> None:
    assert scene_change(thumbnail(still), thumbnail(noisy(still, 1))) < 2
    assert scene_change(thumbnail(still), thumbnail(with_phone(still))) > CHANGE
    reuse = PhoneReuse(GAP_MS, CHANGE, clients=10)
    frames = [frame(noisy(still, s), s * 500, s) for s in range(3)]
    frames.append(frame(with_phone(still), 1500, 3))
    assert ran(reuse, frames) == [None, "alice-0", "alice-0", None]
    # The frame with the phone is now the one later frames compare with.
    assert ran(reuse, [frame(noisy(with_phone(still), 9), 2000, 4)]) == ["alice-3"]


def test_the_gap_forces_a_run(still: Image) -> None:
    reuse = PhoneReuse(GAP_MS, CHANGE, clients=10)
    assert ran(reuse, [frame(still, 0, 0), frame(still, GAP_MS, 1)]) == [None, "alice-0"]
    assert ran(reuse, [frame(still, GAP_MS + 1, 2)]) == [None]
    assert ran(reuse, [frame(still, GAP_MS + 2, 3)]) == ["alice-2"]


def test_other_clients_sessions_and_a_detector_swap_run(still: Image) -> None:
    reuse = PhoneReuse(GAP_MS, CHANGE, clients=10)
    assert ran(reuse, [frame(still, 0, 0), frame(still, 10, 1, client="bob"),
                       frame(still, 20, 2, session="s-2")]) == [None, None, None]
    reuse.clear()
    assert ran(reuse, [frame(still, 30, 3)]) == [None]


def test_the_state_is_bounded_least_recently_seen_forgotten(still: Image) -> None:
    reuse = PhoneReuse(GAP_MS, CHANGE, clients=2)
    ran(reuse, [frame(still, 0, 0, "a"), frame(still, 0, 0, "b")])
    assert ran(reuse, [frame(still, 10, 1, "a")]) == ["a-0"]  # a is now the most recent
    ran(reuse, [frame(still, 20, 0, "c")])  # c pushes out b
    assert len(reuse) == 2
    assert ran(reuse, [frame(still, 30, 2, "a"), frame(still, 30, 1, "b")]) == ["a-0", None]


def test_a_batch_that_failed_leaves_nothing_to_reuse(still: Image) -> None:
    reuse = PhoneReuse(GAP_MS, CHANGE, clients=10)
    reuse.plan([frame(still, 0, 0)])  # the detector raised: the plan was never filled
    assert ran(reuse, [frame(still, 10, 1)]) == [None]


def test_off_the_detector_runs_on_every_frame(still: Image) -> None:
    reuse = PhoneReuse(0, CHANGE, clients=10)
    assert not reuse.enabled
    assert ran(reuse, [frame(still, 0, 0), frame(still, 10, 1)], NOTHING) == [None, None]
