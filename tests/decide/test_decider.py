"""The join by frame_id, the deadline, dedupe, debounce and escalation state, on plain dicts."""

from __future__ import annotations

from typing import Any

from processors.decide.decider import Decider
from processors.decide.policy import Policy
from schemas.events import Action, Reason
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
    assert [o.decision.action for o in outcomes] == [Action.SIGN_OUT, Action.BLOCK,
                                                     Action.SIGN_OUT]
    assert [o.block for o in outcomes] == [False, True, False]
    assert outcomes[1].decision.reason is Reason.SPOOF
    assert outcomes[1].decision.scores["sign_outs"] == 2
