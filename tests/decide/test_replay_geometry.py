"""Replay versus phone-in-hand, from the boxes: a face inside a phone's box is a replay."""

from __future__ import annotations

import pytest

from processors.decide.policy import evaluate, overlap_share, replay_device
from processors.decide.policy_file import parse_policy
from schemas.events import Box, Reason
from tests.decide.results import face, face_result, phone_result
from tests.decide.test_policy import POLICY
from vigil.core.settings import load_settings

# A 640x480 frame. The face of a person shown on a phone's screen, the phone held up to the
# camera: the face box lies inside the phone's box.
SCREEN_FACE = Box(x1=250, y1=150, x2=370, y2=300)
DEVICE = Box(x1=200, y1=60, x2=420, y2=460)
# The user's own face, and a phone held up beside it (touching the cheek a little).
USER_FACE = Box(x1=180, y1=100, x2=360, y2=330)
PHONE_BESIDE = Box(x1=340, y1=150, x2=450, y2=360)


def test_overlap_share_is_the_part_of_the_face_inside_the_box() -> None:
    assert overlap_share(SCREEN_FACE, DEVICE) == 1.0
    assert overlap_share(USER_FACE, PHONE_BESIDE) == pytest.approx(20 * 180 / (180 * 230))
    assert overlap_share(USER_FACE, Box(x1=500, y1=0, x2=600, y2=100)) == 0.0
    half = Box(x1=310, y1=0, x2=640, y2=480)  # the right half of the screen face
    assert overlap_share(SCREEN_FACE, half) == pytest.approx(0.5)
    assert overlap_share(Box(x1=5, y1=5, x2=5, y2=9), DEVICE) == 0.0  # empty face box


def test_a_face_on_a_phone_screen_is_a_replay_whatever_its_liveness() -> None:
    verdict = evaluate(face_result("f", faces=[face(liveness=0.99, box=SCREEN_FACE)]),
                       phone_result("f", confidences=(0.7,), box=DEVICE), POLICY)
    assert verdict.reason is Reason.SPOOF
    assert verdict.scores["replay_overlap"] == 1.0
    assert verdict.scores["replay_phone"] == pytest.approx(0.7)
    assert verdict.scores["liveness"] == pytest.approx(0.99)


def test_a_phone_beside_the_face_is_phone_whatever_the_liveness_crop_made_of_it() -> None:
    # The liveness crop (2.7-4x the face box) takes in the phone and scores the user low.
    verdict = evaluate(face_result("f", faces=[face(liveness=0.05, box=USER_FACE)]),
                       phone_result("f", confidences=(0.6,), box=PHONE_BESIDE), POLICY)
    assert verdict.reason is Reason.PHONE
    assert "replay_overlap" not in verdict.scores
    live = evaluate(face_result("f", faces=[face(liveness=0.95, box=USER_FACE)]),
                    phone_result("f", confidences=(0.6,), box=PHONE_BESIDE), POLICY)
    assert live.reason is Reason.PHONE


def test_a_phone_under_the_threshold_makes_no_replay_and_liveness_decides() -> None:
    weak = phone_result("f", confidences=(0.2,), box=DEVICE)  # under phone_threshold 0.3
    assert replay_device(face(box=SCREEN_FACE), weak.phones, POLICY) is None
    spoof = evaluate(face_result("f", faces=[face(liveness=0.1, box=SCREEN_FACE)]), weak,
                     POLICY)
    assert spoof.reason is Reason.SPOOF and "replay_overlap" not in spoof.scores
    fooled = evaluate(face_result("f", faces=[face(liveness=0.9, box=SCREEN_FACE)]), weak,
                      POLICY)
    assert fooled.reason is Reason.OK


def test_the_device_holding_most_of_the_face_is_the_one_named() -> None:
    phones = phone_result("f", confidences=(0.9,), box=PHONE_BESIDE).phones + phone_result(
        "f", confidences=(0.4,), box=DEVICE).phones
    found = replay_device(face(box=SCREEN_FACE), phones, POLICY)
    assert found is not None and found[0].confidence == pytest.approx(0.4)


def test_replay_overlap_comes_from_the_policy_file() -> None:
    settings = load_settings()
    strict = parse_policy("version: g\nthresholds: {replay_overlap: 0.95}\n", settings)
    assert strict.replay_overlap == 0.95
    assert parse_policy("version: g\n", settings).replay_overlap == 0.6
    half_inside = Box(x1=250, y1=150, x2=370, y2=300)
    device = Box(x1=310, y1=0, x2=640, y2=480)
    verdict = evaluate(face_result("f", faces=[face(box=half_inside)]),
                       phone_result("f", confidences=(0.8,), box=device), strict)
    assert verdict.reason is Reason.PHONE  # half the face inside: not a replay at 0.95
