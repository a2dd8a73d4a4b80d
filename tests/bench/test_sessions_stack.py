"""`vigil bench sessions --stack` without a stack: decision messages as steps, what it cannot
run, and the frames compared with the in-process column (tests/e2e/test_bench_stack.py runs
it through `vigil up`)."""

from __future__ import annotations

from pathlib import Path

from schemas.events import Action, ChallengeState, Reason
from vigil.apps.bench.sessions.decide import Step
from vigil.apps.bench.sessions.report import _differing_sessions
from vigil.apps.bench.sessions.scenarios import NOBODY, Presented
from vigil.apps.bench.sessions.stack import blocked, label, runnable, step_of, steps_of
from vigil.apps.client import StreamReport


def decision(action: str, reason: str, **scores: float) -> dict[str, object]:
    return {"type": "decision", "action": action, "reason": reason, "scores": scores}


def presented(kind: str, name: str = "set/x.1", enrolled: str = "set/x") -> Presented:
    return Presented(kind, "set", name, enrolled, (Path("0.jpg"), Path("1.jpg")))


def test_a_decision_message_becomes_the_step_the_in_process_bench_would_record() -> None:
    step = step_of({**decision("allow", "ok", liveness=0.91, distance=0.62, phone=0.01),
                    "challenge": {"state": "passed"}}, 1.5)
    assert step == Step(1.5, Action.ALLOW, Reason.OK, 0.91, 0.62, 0.01, ChallengeState.PASSED)
    bare = step_of(decision("lock_screen", "no_face"), 0.0)
    assert (bare.liveness, bare.distance, bare.phone, bare.challenge) == (None, None, None, None)


def test_frames_without_a_decision_are_not_allowed_and_marked_uncompared() -> None:
    report = StreamReport()
    report.decisions = {1: decision("allow", "ok"), 2: decision("lock_screen", "verifying"),
                        4: decision("allow", "ok")}
    steps, decided = steps_of(report, 5, fps=2.0)
    assert decided == [True, True, False, True, False]
    assert [s.t_s for s in steps] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [(s.action, s.reason) for s in steps if s.reason == Reason.INCOMPLETE] == [
        (Action.LOCK_SCREEN, Reason.INCOMPLETE)] * 2
    assert not blocked(report)


def test_frames_after_the_server_blocked_the_client_count_as_block() -> None:
    said = StreamReport(statuses=[{"type": "status", "state": "blocked"}])
    said.decisions = {1: decision("sign_out", "phone"), 2: decision("lock_screen", "ok")}
    closed = StreamReport(close_code=1008, close_reason="blocked: 3 sign-outs in 600 s")
    replaced = StreamReport(close_code=1008, close_reason="replaced by a newer session")
    assert blocked(said) and blocked(closed) and not blocked(replaced)
    steps, decided = steps_of(said, 4, fps=2.0)
    # The block that closed the session escalated from the sign-outs: their reason.
    assert [(s.action, s.reason) for s in steps] == [
        (Action.SIGN_OUT, Reason.PHONE), (Action.LOCK_SCREEN, Reason.OK),
        (Action.BLOCK, Reason.PHONE), (Action.BLOCK, Reason.PHONE)]
    assert decided == [True, True, False, False]


def test_head_turns_and_people_not_enrolled_are_not_run_through_the_stack() -> None:
    assert runnable(presented("genuine")) is None
    assert runnable(presented("impostor", "set/y.1@set/x")) is None
    assert "head-turn" in (runnable(presented("headturn")) or "")
    assert "not enrolled" in (runnable(presented("phone", enrolled=NOBODY)) or "")


def test_only_the_frames_the_stack_decided_are_compared() -> None:
    one, two = presented("genuine"), presented("attack", "set/x.print-1")
    phone = presented("phone")  # the same name as the genuine session: another kind
    ok, lock = Step(0.0, Action.ALLOW, Reason.OK, None, None, None), Step(
        0.0, Action.LOCK_SCREEN, Reason.OK, None, None, None)
    base = [(one, [lock, ok]),
            (two, [Step(0.0, Action.SIGN_OUT, Reason.SPOOF, None, None, None),
                   Step(0.5, Action.BLOCK, Reason.SPOOF, None, None, None)]),
            (phone, [ok, ok])]
    stack = [(two, [Step(0.0, Action.SIGN_OUT, Reason.SPOOF, None, None, None),
                    Step(0.5, Action.BLOCK, Reason.INCOMPLETE, None, None, None)]),
             (one, [lock, ok]), (phone, [ok, lock])]
    assert label(one) != label(phone)
    # A subset of the sessions, in any order; the undecided frame is left out.
    assert _differing_sessions(base, stack, {label(two): [True, False]}) == {
        label(two): 0, label(one): 0, label(phone): 1}
    assert _differing_sessions(base, stack)[label(two)] == 1  # type: ignore[index]
    stranger = presented("genuine", "set/z.1", "set/z")
    assert _differing_sessions(base, [(stranger, [])]) is None
