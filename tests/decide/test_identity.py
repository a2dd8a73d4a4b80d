"""Identity evidence over a session: the median of recent distances decides wrong_user."""

from __future__ import annotations

from dataclasses import replace

from processors.decide.identity import IdentityPolicy
from processors.decide.policy_file import DEFAULT_POLICY_FILE, parse_policy
from schemas.events import Action, Reason
from tests.decide.results import face, face_result, phone_result
from tests.decide.test_decider import make_decider
from tests.decide.test_policy import make_policy
from vigil.core.settings import Settings

OWNER, IMPOSTOR, ODD = 0.5, 1.4, 1.3  # distances; the policy's verify threshold is 1.0


def decide_session(distances: list[float], window: int, session: str = "s1",
                   per_person_threshold: float | None = None, hold_mismatch: bool = False
                   ) -> list[tuple[Reason, Action]]:
    """Decide one client's frames with these main-face distances, in order."""
    base = make_policy()
    policy = replace(base, identity=IdentityPolicy(window=window, hold_mismatch=hold_mismatch),
                     actions={**base.actions, Reason.VERIFYING: Action.LOCK_SCREEN})
    decider, _ = make_decider(policy)
    out = []
    for i, distance in enumerate(distances):
        result = face_result(f"f{i}", "c1", [face(distance=distance)], seq=i,
                             session_id=session)
        if per_person_threshold is not None:
            result = result.model_copy(update={"verify_threshold": per_person_threshold})
        decider.on_result("phone", phone_result(f"f{i}", "c1", seq=i, session_id=session), 0)
        outcome = decider.on_result("face", result, 0)
        assert outcome is not None
        out.append((outcome.decision.reason, outcome.decision.action))
    return out


def test_one_odd_frame_neither_signs_out_the_owner_nor_lets_an_impostor_in() -> None:
    owner = decide_session([OWNER, OWNER, ODD, OWNER, OWNER], window=5)
    assert [reason for reason, _ in owner] == [Reason.OK] * 5
    impostor = decide_session([IMPOSTOR, IMPOSTOR, OWNER, IMPOSTOR], window=5)
    assert [reason for reason, _ in impostor] == [Reason.WRONG_USER] * 4
    assert all(action is Action.LOCK_SCREEN for _, action in impostor)


def test_a_swap_mid_session_is_wrong_user_from_the_swapped_persons_third_frame() -> None:
    reasons = [r for r, _ in decide_session([OWNER] * 4 + [IMPOSTOR] * 4, window=5)]
    assert reasons == [Reason.OK] * 4 + [Reason.OK, Reason.OK] + [Reason.WRONG_USER] * 2


def test_with_hold_mismatch_no_frame_of_a_swapped_in_person_is_allowed() -> None:
    decided = decide_session([OWNER] * 4 + [IMPOSTOR] * 4, window=5, hold_mismatch=True)
    assert [r for r, _ in decided] == ([Reason.OK] * 4 + [Reason.VERIFYING] * 2
                                       + [Reason.WRONG_USER] * 2)
    assert [a for _, a in decided[4:]] == [Action.LOCK_SCREEN] * 4


def test_with_hold_mismatch_the_owners_odd_frame_is_held_never_wrong_user() -> None:
    decided = decide_session([OWNER, OWNER, ODD, OWNER], window=5, hold_mismatch=True)
    assert [r for r, _ in decided] == [Reason.OK, Reason.OK, Reason.VERIFYING, Reason.OK]


def test_window_one_judges_each_frame_alone_as_before() -> None:
    reasons = [r for r, _ in decide_session([OWNER, ODD, OWNER], window=1)]
    assert reasons == [Reason.OK, Reason.WRONG_USER, Reason.OK]


def test_a_new_session_starts_an_empty_window() -> None:
    policy = replace(make_policy(), identity=IdentityPolicy(window=5))
    decider, _ = make_decider(policy)
    for i, (session, distance) in enumerate([("s1", IMPOSTOR)] * 3 + [("s2", OWNER)]):
        decider.on_result("phone", phone_result(f"f{i}", seq=i, session_id=session), 0)
        outcome = decider.on_result(
            "face", face_result(f"f{i}", faces=[face(distance=distance)], seq=i,
                                session_id=session), 0)
        assert outcome is not None
    assert outcome.decision.reason is Reason.OK  # s1's impostor frames are not in s2's window
    assert outcome.decision.scores["identity_frames"] == 1.0


def test_frames_without_an_identity_verdict_leave_the_window_alone() -> None:
    policy = replace(make_policy(), identity=IdentityPolicy(window=3))
    decider, _ = make_decider(policy)
    shown = [face(distance=IMPOSTOR), face(distance=IMPOSTOR, liveness=0.1), None,
             face(distance=OWNER)]
    reasons = []
    for i, one in enumerate(shown):
        decider.on_result("phone", phone_result(f"f{i}", seq=i), 0)
        outcome = decider.on_result("face", face_result(
            f"f{i}", faces=[] if one is None else [one], seq=i), 0)
        assert outcome is not None
        reasons.append(outcome.decision.reason)
    # The spoof and the empty frame added nothing: the last window is (1.4, 0.5), median 0.95.
    assert reasons == [Reason.WRONG_USER, Reason.SPOOF, Reason.NO_FACE, Reason.OK]


def test_the_enrolled_persons_own_threshold_is_used_when_sent() -> None:
    # 0.5 passes the policy's 1.0 but not this person's 0.4.
    reasons = [r for r, _ in decide_session([OWNER] * 3, window=1, per_person_threshold=0.4)]
    assert reasons == [Reason.WRONG_USER] * 3
    policy = replace(make_policy(), identity=IdentityPolicy(window=1, per_person=False))
    decider, _ = make_decider(policy)
    decider.on_result("phone", phone_result("g1"), 0)
    outcome = decider.on_result("face", face_result("g1", faces=[face(distance=OWNER)])
                                .model_copy(update={"verify_threshold": 0.4}), 0)
    assert outcome is not None and outcome.decision.reason is Reason.OK


def test_the_policy_file_names_the_knobs() -> None:
    shipped = parse_policy(DEFAULT_POLICY_FILE.read_text(), Settings())
    assert shipped.identity == IdentityPolicy(window=5, per_person=True, hold_mismatch=True)
    text = 'version: "2"\nidentity: {window: 3, per_person: false, hold_mismatch: true}\n'
    assert parse_policy(text, Settings()).identity == IdentityPolicy(3, False, True)
