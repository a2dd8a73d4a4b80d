"""The join by frame_id, the deadline, dedupe, debounce and escalation state, on plain dicts."""

from __future__ import annotations

from typing import Any

import pytest

from processors.decide.decider import Decider
from processors.decide.policy import Policy
from schemas.events import Action, ControlEvent, ControlKind, Reason, Unprocessed
from tests.decide.results import face, face_result, phone_result
from tests.decide.test_policy import make_policy


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def make_decider(policy: Policy | None = None, deadline_ms: int = 3000) -> tuple[Decider, Clock]:
    clock = Clock()
    chosen = policy or make_policy()
    pending: dict[str, Any] = {}
    decided: dict[str, Any] = {}
    clients: dict[str, Any] = {}
    return Decider(pending, decided, clients, policy=lambda: chosen, deadline_ms=deadline_ms,
                   clock=clock), clock


def test_both_halves_in_either_order_make_one_decision() -> None:
    decider, _ = make_decider()
    assert decider.on_result("phone", phone_result("f1", "c1"), 2) is None
    assert decider.pending["f1"]["p"] == 2
    outcome = decider.on_result("face", face_result("f1", "c1"), 2)
    assert outcome is not None and not outcome.block
    d = outcome.decision
    assert (d.frame_id, d.client_id, d.action, d.reason, d.missing) == (
        "f1", "c1", Action.ALLOW, Reason.OK, [])
    assert d.policy_version == "t@0" and d.seq == 1 and d.frame.offset == 1
    assert "f1" not in decider.pending and decider.decided["f1"]["p"] == 2


def test_a_repeated_or_late_half_makes_no_second_decision() -> None:
    decider, _ = make_decider()
    assert decider.on_result("face", face_result("f1"), 0) is None
    assert decider.on_result("face", face_result("f1"), 0) is None  # replayed half
    assert decider.on_result("phone", phone_result("f1"), 0) is not None
    assert decider.on_result("phone", phone_result("f1"), 0) is None  # replayed after
    assert decider.on_result("face", face_result("f1"), 0) is None


def test_deadline_decides_incomplete_naming_the_missing_half() -> None:
    decider, clock = make_decider(deadline_ms=3000)
    decider.on_result("face", face_result("f1"), 1)
    decider.on_result("phone", phone_result("f2"), 3)
    clock.ms += 2999
    assert decider.overdue_partitions() == set()
    assert decider.on_deadline(1) == []
    clock.ms += 1
    assert decider.overdue_partitions() == {1, 3}
    [outcome] = decider.on_deadline(1)  # only the partition the tick came for
    assert outcome.decision.reason is Reason.INCOMPLETE
    assert outcome.decision.missing == ["phone"]
    assert outcome.decision.action is Action.LOCK_SCREEN
    [outcome] = decider.on_deadline(3)
    assert outcome.decision.missing == ["face"]
    assert decider.pending == {}
    # The half arriving after the deadline decision is a late repeat, not a new frame.
    assert decider.on_result("phone", phone_result("f1"), 1) is None


def test_sweep_forgets_old_decided_frames_of_its_partition_only() -> None:
    decider, clock = make_decider()
    for fid, p in (("a", 0), ("b", 1)):
        decider.on_result("face", face_result(fid), p)
        decider.on_result("phone", phone_result(fid), p)
    clock.ms += 10_000
    assert decider.expired_partitions(10_001) == set()
    assert decider.expired_partitions(10_000) == {0, 1}
    assert decider.sweep(10_000, 0) == 1
    assert set(decider.decided) == {"b"}


def test_a_sweep_forgets_at_most_its_limit_the_oldest_first() -> None:
    decider, clock = make_decider()
    for n in range(5):
        decider.on_result("face", face_result(f"f{n}"), 0)
        decider.on_result("phone", phone_result(f"f{n}"), 0)
        clock.ms += 1
    clock.ms += 10_000
    assert decider.sweep(10_000, 0, limit=2) == 2
    assert set(decider.decided) == {"f2", "f3", "f4"}
    assert decider.sweep(10_000, 0) == 3 and decider.decided == {}


def test_debounce_allows_with_the_observed_reason_until_the_streak_is_long() -> None:
    decider, _ = make_decider(make_policy({Reason.NO_FACE: 2}))
    decisions = []
    for n in range(3):
        decider.on_result("face", face_result(f"f{n}", "c9", faces=[]), 0)
        outcome = decider.on_result("phone", phone_result(f"f{n}", "c9"), 0)
        assert outcome is not None
        decisions.append(outcome.decision)
    assert [(d.action, d.reason) for d in decisions] == [
        (Action.ALLOW, Reason.NO_FACE), (Action.LOCK_SCREEN, Reason.NO_FACE),
        (Action.LOCK_SCREEN, Reason.NO_FACE)]
    assert decisions[0].scores["streak"] == 1 and decisions[0].scores["streak_needed"] == 2
    assert decider.clients["c9"]["streak"] == 3


def test_streaks_are_per_client() -> None:
    decider, _ = make_decider(make_policy({Reason.NO_FACE: 2}))
    for fid, client in (("a", "c1"), ("b", "c2")):
        decider.on_result("face", face_result(fid, client, faces=[]), 0)
        outcome = decider.on_result("phone", phone_result(fid, client), 0)
        assert outcome is not None and outcome.decision.action is Action.ALLOW


def test_escalation_blocks_the_client_after_k_sign_outs() -> None:
    decider, clock = make_decider(make_policy(sign_outs=2, window_s=60))
    outcomes = []
    for n in range(3):
        clock.ms += 1000
        decider.on_result("face", face_result(f"s{n}", "c5", faces=[face(liveness=0.0)]), 0)
        outcome = decider.on_result("phone", phone_result(f"s{n}", "c5"), 0)
        assert outcome is not None
        outcomes.append(outcome)
    # Once blocked, the client's frames get block; the control plane is asked only once.
    assert [o.decision.action for o in outcomes] == [Action.SIGN_OUT, Action.BLOCK,
                                                     Action.BLOCK]
    assert [o.block for o in outcomes] == [False, True, False]
    assert outcomes[1].decision.reason is Reason.SPOOF
    assert outcomes[1].decision.scores["sign_outs"] == 2


@pytest.mark.parametrize(("mark", "reason"), [(Unprocessed.BAD_FRAME, Reason.BAD_FRAME),
                                              (Unprocessed.STALE, Reason.STALE)])
def test_an_unprocessed_half_decides_at_once_with_its_own_reason(
    mark: Unprocessed, reason: Reason
) -> None:
    decider, _ = make_decider()
    outcome = decider.on_result("phone", phone_result("b1", "c1", unprocessed=mark,
                                                      error="undecodable: x"), 0)
    assert outcome is not None  # no wait for the face half
    d = outcome.decision
    assert (d.action, d.reason, d.missing) == (Action.LOCK_SCREEN, reason, [])
    assert decider.pending == {} and "b1" in decider.decided
    assert decider.on_result("face", face_result("b1", "c1", unprocessed=mark), 0) is None


def test_an_unprocessed_half_wins_over_a_good_half_already_waiting() -> None:
    decider, _ = make_decider()
    assert decider.on_result("face", face_result("b2"), 0) is None
    outcome = decider.on_result("phone", phone_result("b2", unprocessed=Unprocessed.STALE), 0)
    assert outcome is not None and outcome.decision.reason is Reason.STALE


def test_a_frame_of_an_ended_session_makes_no_decision_and_is_not_waited_for() -> None:
    decider, clock = make_decider()
    assert decider.on_result("face", face_result("e1", "gone"), 0) is None
    assert decider.on_result(
        "phone", phone_result("e1", "gone", unprocessed=Unprocessed.SESSION_ENDED), 0) is None
    assert decider.pending == {} and "e1" in decider.decided
    clock.ms += 60_000
    assert decider.on_deadline(0) == []  # nothing left to decide incomplete
    # ...in either order.
    assert decider.on_result(
        "face", face_result("e2", "gone", unprocessed=Unprocessed.SESSION_ENDED), 0) is None
    assert decider.on_result("phone", phone_result("e2", "gone"), 0) is None
    assert decider.pending == {}


def control(client: str, kind: ControlKind) -> ControlEvent:
    return ControlEvent(event_id=f"e-{client}-{kind.value}", client_id=client, kind=kind,
                        at=1, reason="by the test")


def test_control_events_set_what_a_clients_frames_get() -> None:
    decider, _ = make_decider()

    def decide(fid: str, faces: list | None = None) -> tuple[Action, Reason]:
        decider.on_result("face", face_result(fid, "c4", faces), 0)
        outcome = decider.on_result("phone", phone_result(fid, "c4"), 0)
        assert outcome is not None and not outcome.block
        return outcome.decision.action, outcome.decision.reason

    assert decide("a") == (Action.ALLOW, Reason.OK)
    decider.on_control(control("c4", ControlKind.BLOCKED))
    assert decide("b") == (Action.BLOCK, Reason.OK)
    assert decider.clients["c4"]["state"] == "blocked"
    decider.on_control(control("c4", ControlKind.PAUSED))
    assert decide("c") == (Action.LOCK_SCREEN, Reason.OK)  # not verified while paused
    assert decide("d", faces=[face(liveness=0.1)]) == (Action.SIGN_OUT, Reason.SPOOF)
    decider.on_control(control("c4", ControlKind.TOKEN_ISSUED))  # changes nothing
    assert decider.clients["c4"]["state"] == "paused"
    decider.on_control(control("c4", ControlKind.RESUMED))
    assert decide("e") == (Action.ALLOW, Reason.OK)


def test_a_decision_names_the_models_of_both_halves() -> None:
    decider, clock = make_decider(deadline_ms=3000)
    face_models = {"face_detector": "yunet@8f2383e4", "liveness_model": "celebaspoof@af2381b8"}
    phone_models = {"phone_detector": "yolo_openvino@11d0883b"}
    decider.on_result("face", face_result("f1").model_copy(update={"models": face_models}), 0)
    outcome = decider.on_result(
        "phone", phone_result("f1").model_copy(update={"models": phone_models}), 0)
    assert outcome is not None
    assert outcome.decision.models == {**face_models, **phone_models}
    # A half missing at the deadline: the models of the half that came.
    decider.on_result("phone", phone_result("f2").model_copy(update={"models": phone_models}), 0)
    clock.ms += 3000
    [late] = decider.on_deadline(0)
    assert late.decision.missing == ["face"] and late.decision.models == phone_models
