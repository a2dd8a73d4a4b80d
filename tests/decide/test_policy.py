"""The decision policy as pure functions: order, thresholds, debounce, escalation."""

from __future__ import annotations

import pytest

from processors.decide.policy import (
    Escalation,
    Policy,
    Streak,
    debounced_action,
    escalate,
    evaluate,
    next_streak,
)
from processors.verdict import main_face
from schemas.events import Action, Box, Reason
from tests.decide.results import SMALL, face, face_result, phone_result

ACTIONS = {
    Reason.NO_FACE: Action.LOCK_SCREEN, Reason.SPOOF: Action.SIGN_OUT,
    Reason.WRONG_USER: Action.LOCK_SCREEN, Reason.PHONE: Action.SIGN_OUT,
    Reason.MULTIPLE_FACES: Action.LOCK_SCREEN, Reason.INCOMPLETE: Action.LOCK_SCREEN,
    Reason.BAD_FRAME: Action.LOCK_SCREEN, Reason.STALE: Action.LOCK_SCREEN,
}


def make_policy(debounce: dict[Reason, int] | None = None, sign_outs: int = 3,
                window_s: float = 600.0) -> Policy:
    return Policy(version="t@0", liveness_threshold=0.5, verify_threshold=1.0,
                  phone_threshold=0.3, actions=dict(ACTIONS), debounce=debounce or {},
                  escalation=Escalation(sign_outs, window_s))


POLICY = make_policy()
SPOOF = face(liveness=0.1)
STRANGER = face(distance=1.4)


@pytest.mark.parametrize(
    ("faces", "phones", "enrolled", "reason"),
    [
        ([], (0.9,), True, Reason.NO_FACE),  # no face beats everything
        ([SPOOF], (0.9,), True, Reason.PHONE),  # a phone beside: liveness is not trusted
        ([face(liveness=0.1, distance=1.4)], (), True, Reason.SPOOF),  # spoof before identity
        ([STRANGER], (0.9,), True, Reason.PHONE),  # the phone before identity
        ([STRANGER], (), True, Reason.WRONG_USER),
        ([face()], (), False, Reason.WRONG_USER),  # nothing enrolled: not the user
        ([face(), face(box=SMALL)], (0.9,), True, Reason.PHONE),  # phone before multiple faces
        ([face(), face(box=SMALL)], (), True, Reason.MULTIPLE_FACES),
        ([face()], (0.1,), True, Reason.OK),
    ],
)
def test_policy_order_follows_the_seed(
    faces: list, phones: tuple[float, ...], enrolled: bool, reason: Reason
) -> None:
    verdict = evaluate(face_result("f", faces=faces, enrolled=enrolled),
                       phone_result("f", confidences=phones), POLICY)
    assert verdict.reason is reason
    assert verdict.missing == []
    assert POLICY.action_for(verdict.reason) is (
        Action.ALLOW if reason is Reason.OK else ACTIONS[reason])


def test_checks_are_on_the_largest_face() -> None:
    # A small spoof-like face in the background does not make the user a spoof...
    faces = [face(liveness=0.1, box=SMALL), face(liveness=0.9)]
    assert main_face(faces) is faces[1]
    assert evaluate(face_result("f", faces=faces), phone_result("f"), POLICY).reason is (
        Reason.MULTIPLE_FACES)
    # ...but a spoof as the main face is.
    faces = [face(liveness=0.9, box=SMALL), face(liveness=0.1)]
    assert evaluate(face_result("f", faces=faces), phone_result("f"), POLICY).reason is (
        Reason.SPOOF)


@pytest.mark.parametrize(
    ("liveness", "distance", "phone", "reason"),
    [
        (0.5, 0.5, 0.0, Reason.OK),  # liveness exactly at the threshold is live
        (0.49, 0.5, 0.0, Reason.SPOOF),
        (0.9, 1.0, 0.0, Reason.OK),  # distance exactly at the threshold is the user
        (0.9, 1.01, 0.0, Reason.WRONG_USER),
        (0.9, 0.5, 0.3, Reason.PHONE),  # confidence exactly at the threshold is a phone
        (0.9, 0.5, 0.29, Reason.OK),
    ],
)
def test_thresholds_are_inclusive_the_documented_way(
    liveness: float, distance: float, phone: float, reason: Reason
) -> None:
    verdict = evaluate(face_result("f", faces=[face(liveness, distance)]),
                       phone_result("f", confidences=(phone,) if phone else ()), POLICY)
    assert verdict.reason is reason


def test_scores_carry_liveness_distance_phone_and_face_count() -> None:
    faces = [face(0.8, 0.7), face(0.2, 1.5, box=Box(x1=0, y1=0, x2=10, y2=10))]
    verdict = evaluate(face_result("f", faces=faces), phone_result("f", confidences=(0.2, 0.6)),
                       POLICY)
    assert verdict.scores == {"liveness": 0.8, "distance": 0.7, "phone": 0.6, "faces": 2.0}


def test_missing_scores_fall_back_to_the_processor_flags() -> None:
    result = face_result("f", faces=[face(liveness=None, distance=None)])
    assert evaluate(result, phone_result("f"), POLICY).reason is Reason.OK
    flagged = result.model_copy(update={"live": False})
    assert evaluate(flagged, phone_result("f"), POLICY).reason is Reason.SPOOF
    flagged = result.model_copy(update={"match": False})
    assert evaluate(flagged, phone_result("f"), POLICY).reason is Reason.WRONG_USER


@pytest.mark.parametrize(
    ("face_error", "phone_error", "has_face", "has_phone", "missing"),
    [
        (None, None, True, False, ["phone"]),
        (None, None, False, True, ["face"]),
        ("decode failed", None, True, True, ["face"]),
        (None, "model crashed", True, True, ["phone"]),
        ("x", "y", True, True, ["face", "phone"]),
    ],
)
def test_a_missing_or_failed_half_is_incomplete(
    face_error: str | None, phone_error: str | None, has_face: bool, has_phone: bool,
    missing: list[str],
) -> None:
    # Even a spoof face does not decide alone: the verdict says which half is missing.
    f = face_result("f", faces=[SPOOF], error=face_error) if has_face else None
    p = phone_result("f", error=phone_error) if has_phone else None
    verdict = evaluate(f, p, POLICY)
    assert verdict.reason is Reason.INCOMPLETE
    assert verdict.missing == missing
    assert POLICY.action_for(verdict.reason) is Action.LOCK_SCREEN


def test_debounce_acts_after_n_consecutive_frames() -> None:
    policy = make_policy({Reason.SPOOF: 3})
    streak: Streak | None = None
    actions = []
    for reason in (Reason.SPOOF, Reason.SPOOF, Reason.OK, Reason.SPOOF, Reason.SPOOF,
                   Reason.SPOOF, Reason.SPOOF):
        streak = next_streak(streak, reason)
        actions.append(debounced_action(streak, policy))
    assert actions == [Action.ALLOW, Action.ALLOW, Action.ALLOW, Action.ALLOW, Action.ALLOW,
                       Action.SIGN_OUT, Action.SIGN_OUT]
    assert streak == Streak(Reason.SPOOF, 4)


def test_debounce_default_acts_on_the_first_frame() -> None:
    assert debounced_action(Streak(Reason.NO_FACE, 1), POLICY) is Action.LOCK_SCREEN


def test_escalation_blocks_after_k_sign_outs_in_the_window() -> None:
    policy = make_policy(sign_outs=3, window_s=60)
    history: list[int] = []
    results = []
    for t in (0, 10_000, 20_000):
        action, history = escalate(history, Action.SIGN_OUT, t, policy)
        results.append(action)
    assert results == [Action.SIGN_OUT, Action.SIGN_OUT, Action.BLOCK]
    assert history == []  # the next block needs a fresh run of sign-outs


def test_escalation_forgets_sign_outs_outside_the_window() -> None:
    policy = make_policy(sign_outs=2, window_s=60)
    action, history = escalate([], Action.SIGN_OUT, 0, policy)
    action, history = escalate(history, Action.LOCK_SCREEN, 30_000, policy)
    assert action is Action.LOCK_SCREEN and history == [0]
    action, history = escalate(history, Action.SIGN_OUT, 61_000, policy)
    assert action is Action.SIGN_OUT and history == [61_000]
