"""Step-up challenges in the decider, on synthetic FaceResult sequences (no broker)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from processors.decide.challenge_policy import ChallengePolicy, ChallengesSpec
from processors.decide.decider import Decider
from processors.decide.graded import LivenessGrades
from processors.decide.policy import Policy
from schemas.events import (
    Action,
    ChallengeKind,
    ChallengeProgress,
    ChallengeState,
    Decision,
    Face,
    Reason,
    SceneMovement,
)
from tests.decide.head_turns import flat_picture, head
from tests.decide.results import BIG, face_result, phone_result
from tests.decide.test_decider import Clock
from tests.decide.test_policy import make_policy

Points = list[tuple[float, float]]


def policy_with(**knobs: Any) -> Policy:
    return replace(make_policy(), challenges=ChallengePolicy(**knobs))


class Client:
    """One client's frames through a decider whose tables are plain dicts."""

    def __init__(self, policy: Policy, tables: tuple[dict[str, Any], ...] | None = None) -> None:
        self.tables = tables or ({}, {}, {})
        self.clock = Clock()
        self.policy = policy
        self.seq = 0
        self.session = "s1"

    def frame(self, points: Points | None, liveness: float = 0.9, distance: float = 0.5,
              step_ms: int = 200, scene: SceneMovement | None = None) -> Decision:
        faces = [] if points is None else [Face(box=BIG, score=0.99, landmarks=points,
                                                liveness=liveness, distance=distance)]
        return self.faces(faces, step_ms, scene)

    def faces(self, faces: list[Face], step_ms: int = 200,
              scene: SceneMovement | None = None) -> Decision:
        """One frame showing these faces (the face processor's result), ``step_ms`` after
        the last."""
        self.seq += 1
        self.clock.ms += step_ms
        decider = Decider(*self.tables, policy=lambda: self.policy, deadline_ms=3000,
                          clock=self.clock)
        fid = f"f{self.seq}"
        decider.on_result("phone", phone_result(fid, seq=self.seq, session_id=self.session), 0)
        outcome = decider.on_result("face", face_result(fid, faces=faces, seq=self.seq,
                                                        session_id=self.session,
                                                        scene=scene), 0)
        assert outcome is not None
        return outcome.decision


def turn(kind: ChallengeKind, degrees: float) -> float:
    return degrees if kind is ChallengeKind.TURN_LEFT else -degrees


def asked(decision: Decision) -> ChallengeProgress:
    assert decision.challenge is not None and decision.challenge.issued
    return decision.challenge


def test_a_real_head_turn_passes_and_restores_allow() -> None:
    client = Client(policy_with(at_start=True))
    first = client.frame(head())
    challenge = asked(first)
    assert (first.action, challenge.trigger, challenge.state) == (
        Action.LOCK_SCREEN, "session_start", ChallengeState.PENDING)
    seen = [client.frame(head(turn(challenge.action, deg))) for deg in (5, 15, 25, 30, 15, 2)]
    assert [d.action for d in seen[:-1]] == [Action.LOCK_SCREEN] * 5
    assert all(d.challenge and d.challenge.id == challenge.id and not d.challenge.issued
               for d in seen)
    assert seen[3].challenge and seen[3].challenge.progress == 0.5
    last = seen[-1]
    assert last.challenge and last.challenge.state is ChallengeState.PASSED
    assert (last.action, last.reason) == (Action.ALLOW, Reason.OK)
    after = client.frame(head())
    assert after.challenge is None and after.action is Action.ALLOW


def test_a_flat_picture_turned_fails_as_spoof() -> None:
    client = Client(policy_with(at_start=True))
    challenge = asked(client.frame(flat_picture()))
    seen = [client.frame(flat_picture(turn(challenge.action, deg))) for deg in (10, 25, 35, 40)]
    ended = [d for d in seen if d.challenge and d.challenge.state is not ChallengeState.PENDING]
    assert ended, [d.challenge for d in seen]
    assert ended[0].challenge and ended[0].challenge.state is ChallengeState.FAILED
    assert (ended[0].action, ended[0].reason) == (Action.SIGN_OUT, Reason.SPOOF)
    assert ended[0].challenge.detail == "flat picture turned"


def test_a_turn_the_other_way_or_a_slide_does_not_pass() -> None:
    client = Client(policy_with(at_start=True, deadline_s=3))
    challenge = asked(client.frame(head()))
    wrong = [client.frame(head(turn(challenge.action, -deg))) for deg in (15, 30, 15, 0)]
    slid = [client.frame(head(shift_x=mm)) for mm in (40, 80, 40)]
    assert all(d.challenge and d.challenge.state is ChallengeState.PENDING for d in wrong + slid)


def test_no_answer_by_the_deadline_locks_with_its_own_reason() -> None:
    client = Client(policy_with(at_start=True, deadline_s=2))
    asked(client.frame(head()))
    waiting = [client.frame(head(), step_ms=500) for _ in range(4)]  # 2.0 s: not yet over
    assert all(d.action is Action.LOCK_SCREEN for d in waiting)
    late = client.frame(head(), step_ms=500)
    assert late.challenge and late.challenge.state is ChallengeState.EXPIRED
    assert (late.action, late.reason) == (Action.LOCK_SCREEN, Reason.CHALLENGE_TIMEOUT)


def test_another_person_coming_back_fails() -> None:
    client = Client(policy_with(at_start=True))
    challenge = asked(client.frame(head()))
    client.frame(head(turn(challenge.action, 30)))
    back = client.frame(head(), distance=1.6)
    assert back.challenge and back.challenge.state is ChallengeState.FAILED
    assert (back.action, back.reason) == (Action.SIGN_OUT, Reason.SPOOF)


def test_doubtful_liveness_asks_a_clear_spoof_does_not_and_the_rate_holds() -> None:
    policy = policy_with(on_doubt=True, doubt_low=0.3, doubt_high=0.6, max_per_hour=1,
                         deadline_s=1)
    clear = Client(policy).frame(head(), liveness=0.1)
    assert clear.challenge is None and clear.reason is Reason.SPOOF
    client = Client(policy)
    doubt = client.frame(head(), liveness=0.45)
    assert asked(doubt).trigger == "doubt"
    assert doubt.action is Action.LOCK_SCREEN  # a doubtful spoof waits for the answer
    client.frame(head(), liveness=0.45, step_ms=1500)  # expired
    for _ in range(3):  # one an hour: no second challenge, the policy's own action
        again = client.frame(head(), liveness=0.45, step_ms=30_000)
        assert again.challenge is None


def test_a_pass_vouches_for_doubtful_frames_for_trust_s() -> None:
    client = Client(policy_with(on_doubt=True, trust_s=60))
    challenge = asked(client.frame(head(), liveness=0.45))
    client.frame(head(turn(challenge.action, 30)), liveness=0.45)
    passed = client.frame(head(), liveness=0.45)
    assert passed.challenge and passed.challenge.state is ChallengeState.PASSED
    assert passed.action is Action.ALLOW and passed.reason is Reason.SPOOF
    vouched = client.frame(head(), liveness=0.45, step_ms=30_000)
    assert vouched.action is Action.ALLOW and vouched.scores["challenge_vouched"] == 1.0
    assert client.frame(head(), liveness=0.1).action is not Action.ALLOW  # not a clear spoof
    later = client.frame(head(), liveness=0.45, step_ms=61_000)
    assert asked(later).trigger == "doubt"


def test_a_running_challenge_survives_a_restart_and_a_reconnect() -> None:
    client = Client(policy_with(at_start=True))
    challenge = asked(client.frame(head()))
    client.frame(head(turn(challenge.action, 30)))
    # A restart: the tables come back from their changelogs as JSON.
    restored = tuple(json.loads(json.dumps(t)) for t in client.tables)
    again = Client(client.policy, restored)  # type: ignore[arg-type]
    again.clock.ms, again.seq = client.clock.ms, client.seq
    again.session = "s2"  # the client reconnected meanwhile: asked again on the new socket
    moved = again.frame(head(turn(challenge.action, 20)))
    assert moved.challenge and moved.challenge.issued and moved.challenge.id == challenge.id
    back = again.frame(head())
    assert back.challenge and back.challenge.state is ChallengeState.PASSED


def test_random_checks_come_at_intervals() -> None:
    client = Client(policy_with(every_s=5, min_gap_s=0, deadline_s=1))
    decisions = [client.frame(head(), step_ms=1000) for _ in range(60)]
    asks = [d for d in decisions if d.challenge and d.challenge.issued]
    assert 3 <= len(asks) <= 30 and all(d.challenge and d.challenge.trigger == "random"
                                        for d in asks)
    assert {d.challenge.action for d in asks if d.challenge} == set(ChallengeKind)


GRADED = LivenessGrades(spoof_below=0.05, certain_below=0.02, window=6, spoof_frames=3)


def graded_with(**knobs: Any) -> Policy:
    """The shipped policy's liveness grades (verifying under 0.5, spoof evidence under 0.05,
    three of six to sign out, at once under 0.02), with these challenge knobs."""
    policy = policy_with(**knobs)
    return replace(policy, grades=GRADED,
                   actions={**policy.actions, Reason.VERIFYING: Action.LOCK_SCREEN})


def test_spoof_evidence_of_a_turning_head_waits_for_the_answer_and_a_pass_forgets_it() -> None:
    turning = [5, 15, 25, 30, 25, 15]
    without = Client(graded_with())  # no challenge: these scores sign the person out
    assert Action.SIGN_OUT in [without.frame(head(deg), liveness=0.03).action
                               for deg in turning]
    client = Client(graded_with(at_start=True))
    challenge = asked(client.frame(head()))
    seen = [client.frame(head(turn(challenge.action, deg)), liveness=0.03) for deg in turning]
    assert [d.action for d in seen] == [Action.LOCK_SCREEN] * len(seen)
    assert any(d.reason is Reason.SPOOF for d in seen)  # the reason still says what it was
    back = client.frame(head())
    assert back.challenge and back.challenge.state is ChallengeState.PASSED
    assert back.action is Action.ALLOW
    # The window's evidence is forgotten: two more low frames are not three of six.
    later = [client.frame(head(), liveness=0.03) for _ in range(2)]
    assert all(d.action is not Action.SIGN_OUT for d in later)


def test_a_held_spoof_with_no_answer_signs_out_as_it_would_have() -> None:
    client = Client(graded_with(at_start=True, deadline_s=2))
    asked(client.frame(head(), liveness=0.03))
    waiting = [client.frame(head(), liveness=0.03, step_ms=500) for _ in range(4)]
    assert all(d.action is Action.LOCK_SCREEN for d in waiting)
    late = client.frame(head(), liveness=0.03, step_ms=500)
    assert late.challenge and late.challenge.state is ChallengeState.EXPIRED
    assert (late.action, late.reason) == (Action.SIGN_OUT, Reason.SPOOF)


def test_a_certain_spoof_signs_out_while_a_challenge_runs() -> None:
    client = Client(graded_with(at_start=True))
    challenge = asked(client.frame(head()))
    certain = client.frame(head(turn(challenge.action, 10)), liveness=0.01)
    assert (certain.action, certain.reason) == (Action.SIGN_OUT, Reason.SPOOF)


def test_a_verifying_frame_is_doubt_but_a_pass_does_not_make_verifying_frames_allowed() -> None:
    client = Client(graded_with(on_doubt=True, trust_s=60))
    doubt = client.frame(head(), liveness=0.3)
    challenge = asked(doubt)
    assert doubt.reason is Reason.VERIFYING and challenge.trigger == "doubt"
    client.frame(head(turn(challenge.action, 30)), liveness=0.3)
    passed = client.frame(head(), liveness=0.3)
    assert passed.challenge and passed.challenge.state is ChallengeState.PASSED
    # A replay of a real turn passes the turn check too: passive liveness still decides.
    assert (passed.action, passed.reason) == (Action.LOCK_SCREEN, Reason.VERIFYING)
    later = client.frame(head(), liveness=0.3, step_ms=30_000)
    assert later.action is Action.LOCK_SCREEN and later.challenge is None
    assert client.frame(head(), liveness=0.9).action is Action.ALLOW


def test_a_sign_in_challenge_left_unanswered_is_owed_so_waiting_lets_no_photo_in() -> None:
    # A printed photo the liveness models score as live (0.9): it cannot turn, so it waits.
    client = Client(policy_with(at_start=True, deadline_s=2, min_gap_s=5))
    asked(client.frame(flat_picture()))
    late = [client.frame(flat_picture(), step_ms=500) for _ in range(5)][-1]
    assert late.challenge and late.challenge.state is ChallengeState.EXPIRED
    assert (late.action, late.reason) == (Action.LOCK_SCREEN, Reason.CHALLENGE_TIMEOUT)
    held = [client.frame(flat_picture(), step_ms=1000) for _ in range(4)]
    assert all(d.action is Action.LOCK_SCREEN and d.scores["challenge_owed"] == 1.0
               for d in held)
    again = client.frame(flat_picture(), step_ms=1000)
    assert asked(again).trigger == "after_failure"
    client.frame(head(turn(asked(again).action, 30)))  # the real person comes back and turns
    passed = client.frame(head())
    assert passed.challenge and passed.challenge.state is ChallengeState.PASSED
    assert client.frame(head()).action is Action.ALLOW


def test_a_doubt_challenge_left_unanswered_is_not_owed() -> None:
    # An ok frame in the band's upper half (a spoof held meanwhile would be owed: above).
    client = Client(policy_with(on_doubt=True, doubt_low=0.3, doubt_high=0.6, deadline_s=2,
                                min_gap_s=60))
    assert asked(client.frame(head(), liveness=0.55)).trigger == "doubt"
    late = [client.frame(head(), step_ms=500) for _ in range(5)][-1]
    assert late.challenge and late.challenge.state is ChallengeState.EXPIRED
    assert client.frame(head(), step_ms=500).action is Action.ALLOW


def test_after_a_failure_nothing_is_allowed_until_a_challenge_passes_even_on_a_new_session(
        ) -> None:
    client = Client(policy_with(at_start=True, min_gap_s=5))
    challenge = asked(client.frame(flat_picture()))
    failed = [client.frame(flat_picture(turn(challenge.action, deg))) for deg in (10, 25, 35, 40)]
    assert Action.SIGN_OUT in [d.action for d in failed]
    client.policy = policy_with(min_gap_s=5)  # nothing would ask any more: the failure does
    client.session = "s2"  # signed in again, the picture still passes passive liveness
    held = client.frame(flat_picture())
    assert held.action is Action.LOCK_SCREEN and held.scores["challenge_owed"] == 1.0
    again = client.frame(flat_picture(), step_ms=5000)
    assert asked(again).trigger == "after_failure"
    client.frame(head(turn(asked(again).action, 30)))
    passed = client.frame(head())
    assert passed.challenge and passed.challenge.state is ChallengeState.PASSED
    assert client.frame(head()).action is Action.ALLOW


def test_a_verifying_face_of_someone_else_is_no_doubt_a_challenge_can_clear() -> None:
    client = Client(graded_with(on_doubt=True))
    stranger = client.frame(head(), liveness=0.3, distance=1.6)
    assert stranger.reason is Reason.VERIFYING and stranger.challenge is None


def test_with_retry_failed_a_failure_is_held_and_asked_again_at_once_the_next_signs_out(
        ) -> None:
    client = Client(policy_with(at_start=True, retry_failed=1, min_gap_s=60))

    def fail_one() -> Decision:
        challenge = asked(client.frame(flat_picture()))
        for deg in (10, 25, 35, 40):
            decision = client.frame(flat_picture(turn(challenge.action, deg)))
            if decision.challenge and decision.challenge.state is ChallengeState.FAILED:
                return decision
        raise AssertionError("the flat picture did not fail")

    first = fail_one()
    assert (first.action, first.reason) == (Action.LOCK_SCREEN, Reason.SPOOF)
    assert first.scores["challenge_retry"] == 1.0
    second = fail_one()  # asked on the very next frame, not min_gap_s later
    assert (second.action, second.reason) == (Action.SIGN_OUT, Reason.SPOOF)
    assert "challenge_retry" not in second.scores


def test_a_real_face_that_failed_once_passes_the_retry_and_is_allowed() -> None:
    client = Client(policy_with(at_start=True, retry_failed=1))
    challenge = asked(client.frame(flat_picture()))
    failed = [client.frame(flat_picture(turn(challenge.action, deg))) for deg in (10, 25, 35)]
    assert failed[-1].action is Action.LOCK_SCREEN and failed[-1].reason is Reason.SPOOF
    again = asked(client.frame(head()))
    assert again.trigger == "after_failure"
    client.frame(head(turn(again.action, 30)))
    passed = client.frame(head())
    assert passed.challenge and passed.challenge.state is ChallengeState.PASSED
    assert passed.action is Action.ALLOW
    # The pass cleared the count, in the client's table entry (what the changelog keeps).
    assert '"retries": 0' in json.dumps(client.tables)


def test_retry_failed_is_a_policy_knob_of_at_most_three() -> None:
    assert ChallengesSpec(retry_failed=2).resolve(0.5).retry_failed == 2
    assert ChallengesSpec().resolve(0.5).retry_failed == 0  # as shipped: a failure signs out
    with pytest.raises(ValidationError):
        ChallengesSpec(retry_failed=4)


def test_a_retry_left_unanswered_takes_spoofs_action() -> None:
    client = Client(policy_with(at_start=True, retry_failed=1, deadline_s=2))
    challenge = asked(client.frame(flat_picture()))
    failed = [client.frame(flat_picture(turn(challenge.action, deg))) for deg in (10, 25, 35)]
    assert failed[-1].action is Action.LOCK_SCREEN and failed[-1].reason is Reason.SPOOF
    assert asked(client.frame(flat_picture())).trigger == "after_failure"
    waiting = [client.frame(flat_picture(), step_ms=500) for _ in range(5)]  # 2.5 s
    late = waiting[-1]
    assert late.challenge and late.challenge.state is ChallengeState.EXPIRED
    assert (late.action, late.reason) == (Action.SIGN_OUT, Reason.SPOOF)


FLAT = SceneMovement(motion=0.3, residual=0.02)  # moved 0.3 face sizes, its scene with it
ROOM = SceneMovement(motion=0.3, residual=0.25)  # moved against the room behind it
STILL = SceneMovement(motion=0.02, residual=0.01)  # hardly moved: tells nothing


def test_a_face_moving_with_its_scene_asks_a_challenge_before_it_is_allowed() -> None:
    # A printed photo the liveness models score as live, moved about in front of the camera.
    client = Client(policy_with(on_flat=True, flat_pairs=2, deadline_s=2, min_gap_s=5))
    first = [client.frame(flat_picture(), step_ms=500, scene=s) for s in (None, FLAT)]
    assert all(d.challenge is None for d in first)
    challenge = asked(client.frame(flat_picture(), step_ms=500, scene=FLAT))
    assert challenge.trigger == "flat_scene"
    waiting = [client.frame(flat_picture(), step_ms=500, scene=FLAT) for _ in range(5)]
    assert waiting[-1].challenge and waiting[-1].challenge.state is ChallengeState.EXPIRED
    held = [client.frame(flat_picture(), step_ms=1000) for _ in range(6)]
    assert not any(d.action is Action.ALLOW for d in [*waiting, *held])  # owed: no allow
    assert [d.challenge.trigger for d in held if d.challenge and d.challenge.issued] == [
        "after_failure"]  # asked again once min_gap_s allows


def test_a_face_moving_against_the_room_restarts_the_run_and_still_frames_keep_it() -> None:
    client = Client(policy_with(on_flat=True, flat_pairs=2))
    for scene in (FLAT, ROOM, FLAT, STILL, None):
        assert client.frame(head(), step_ms=500, scene=scene).challenge is None
    assert asked(client.frame(head(), step_ms=500, scene=FLAT)).trigger == "flat_scene"


def test_a_real_head_turn_answers_a_flat_scene_challenge_and_clears_the_run() -> None:
    client = Client(policy_with(on_flat=True, flat_pairs=1, min_gap_s=0))
    challenge = asked(client.frame(head(), scene=FLAT))
    client.frame(head(turn(challenge.action, 30)))
    passed = client.frame(head())
    assert passed.challenge and passed.challenge.state is ChallengeState.PASSED
    assert passed.action is Action.ALLOW
    assert client.frame(head(), scene=STILL).challenge is None  # the run starts again at 0


def test_the_flat_run_starts_again_with_each_session_and_is_off_unless_asked() -> None:
    client = Client(policy_with(on_flat=True, flat_pairs=2))
    assert client.frame(head(), scene=FLAT).challenge is None
    client.session = "s2"  # signed in again: the run does not carry over
    assert client.frame(head(), scene=FLAT).challenge is None
    assert asked(client.frame(head(), scene=FLAT)).trigger == "flat_scene"
    off = Client(policy_with())
    assert all(off.frame(head(), scene=FLAT).challenge is None for _ in range(5))


def test_flat_scene_knobs_classify_a_measure() -> None:
    policy = ChallengesSpec(on_flat=True, flat_motion=0.1, flat_residual=0.05).resolve(0.5)
    assert policy.flat_scene(0.3, 0.02) is True
    assert policy.flat_scene(0.3, 0.2) is False
    assert policy.flat_scene(0.05, 0.0) is None
    with pytest.raises(ValidationError):
        ChallengesSpec(flat_pairs=0)
