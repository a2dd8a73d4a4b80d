"""The decide stage's step through the in-memory harness: results and control events in,
decisions, blocks and dead letters out, no broker (vigil/testing/decide.py).

test_decide_worker.py keeps the Faust worker on a real broker for the wiring (one decision
per policy case, /metrics, /healthz) and test_decide_restart.py its recovery.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from schemas.events import (
    Action,
    ControlEvent,
    ControlKind,
    Decision,
    FaceResult,
    PhoneResult,
    Reason,
    Unprocessed,
)
from tests.decide.results import POLICY, face, face_result, phone_result
from vigil.core.flow import (
    CONTROL,
    DECIDE_STAGE,
    DECISIONS,
    FACE_RESULTS,
    FRAMES_DLQ,
    PHONE_RESULTS,
)
from vigil.core.settings import Settings, load_settings
from vigil.testing.decide import DecideHandler
from vigil.testing.harness import Harness

DEADLINE_MS = 2000

@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return load_settings(namespace="t", state_dir=tmp_path / "state", policy_file=policy,
                         decide_deadline_ms=DEADLINE_MS, policy_check_interval_s=0.2,
                         kafka_bootstrap="127.0.0.1:9")


class Clock:
    """The decider's clock, moved by the test (deadlines without waiting)."""

    def __init__(self) -> None:
        self.now = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now


def send(harness: Harness, results: list[FaceResult | PhoneResult]) -> None:
    for r in results:
        topic = FACE_RESULTS if isinstance(r, FaceResult) else PHONE_RESULTS
        harness.send(topic, r.client_id, topic.serializer.dumps(r))


def decisions(harness: Harness) -> dict[str, list[Decision]]:
    found: dict[str, list[Decision]] = {}
    for d in harness.values(DECISIONS):
        found.setdefault(d.frame_id, []).append(d)
    return found


def test_a_lone_half_is_decided_incomplete_at_the_deadline_and_a_repeat_not_again(
        settings: Settings) -> None:
    harness, clock = Harness(settings), Clock()
    decide = DecideHandler(settings, harness.io, clock)
    pair: list[FaceResult | PhoneResult] = [face_result("f-pair", "c1"),
                                            phone_result("f-pair", "c1")]
    send(harness, [face_result("f-lone", "c2"), *pair, *pair])  # a producer retry: twice
    harness.run(DECIDE_STAGE, decide)
    assert [d.reason for d in decisions(harness)["f-pair"]] == [Reason.OK]
    assert "f-lone" not in decisions(harness)

    decide.tick(0)  # before the deadline: nothing overdue
    assert "f-lone" not in decisions(harness)
    clock.now += DEADLINE_MS
    decide.tick(0)
    [lone] = decisions(harness)["f-lone"]
    assert (lone.action, lone.reason, lone.missing) == (Action.LOCK_SCREEN, Reason.INCOMPLETE,
                                                        ["phone"])
    assert lone.scores["liveness"] == pytest.approx(0.9)
    send(harness, pair)  # a replay after the decision
    harness.run(DECIDE_STAGE, decide, group_id="replay")
    clock.now += DEADLINE_MS
    decide.tick(0)
    assert [d.reason for d in decisions(harness)["f-pair"]] == [Reason.OK]
    assert decide.tables["pending"] == {}
    assert harness.committed(DECIDE_STAGE) == {f"{FACE_RESULTS.name(settings)}[0]": 3,
                                               f"{PHONE_RESULTS.name(settings)}[0]": 2}


def test_repeated_sign_outs_escalate_to_block_and_a_control_event(settings: Settings) -> None:
    harness = Harness(settings)
    decide = DecideHandler(settings, harness.io)
    for n in range(2):  # the second sign-out escalates
        send(harness, [face_result(f"esc-{n}", "esc", [face(0.1)], seq=n),
                       phone_result(f"esc-{n}", "esc", seq=n)])
    harness.run(DECIDE_STAGE, decide)
    assert [decisions(harness)[f"esc-{n}"][0].action for n in range(2)] == [Action.SIGN_OUT,
                                                                           Action.BLOCK]
    # The user database does not know the client: the block is a control event.
    [event] = harness.values(CONTROL)
    assert (event.kind, event.client_id, event.actor) == (ControlKind.BLOCKED, "esc",
                                                          DECIDE_STAGE.name)
    assert "esc-1" in event.reason


def test_control_events_unprocessed_halves_and_bad_messages(settings: Settings) -> None:
    harness = Harness(settings)
    decide = DecideHandler(settings, harness.io)
    event = ControlEvent(event_id="ev-1", client_id="ctl", kind=ControlKind.BLOCKED,
                         reason="by an operator", at=1, actor="cli")
    harness.send(CONTROL, "ctl", CONTROL.serializer.dumps(event))
    harness.run(DECIDE_STAGE, decide)  # the control event first, as its partition has it
    send(harness, [face_result("blocked", "ctl"), phone_result("blocked", "ctl"),
                   phone_result("bad", "c9", unprocessed=Unprocessed.BAD_FRAME,
                                error="undecodable: x")])
    harness.send(FACE_RESULTS, "c9", b'{"not": "a result"}')
    harness.run(DECIDE_STAGE, decide)
    found = decisions(harness)
    assert (found["blocked"][0].action, found["blocked"][0].reason) == (Action.BLOCK, Reason.OK)
    assert found["blocked"][0].scores["client_blocked"] == 1.0
    # The bad frame is decided at once, without waiting for its face half.
    assert (found["bad"][0].action, found["bad"][0].reason, found["bad"][0].missing) == (
        Action.LOCK_SCREEN, Reason.BAD_FRAME, [])
    [dead] = harness.records(FRAMES_DLQ)
    assert dead.value() == b'{"not": "a result"}'


def test_a_policy_edit_applies_to_later_decisions(settings: Settings) -> None:
    assert settings.decide.policy_file is not None
    harness = Harness(settings)
    decide = DecideHandler(settings, harness.io)
    send(harness, [face_result("before", "c1", []), phone_result("before", "c1")])
    harness.run(DECIDE_STAGE, decide)
    settings.decide.policy_file.write_text(POLICY.replace('version: "2"', 'version: "3"')
                                    .replace("no_face: lock_screen", "no_face: sign_out"))
    time.sleep(0.5)  # past policy_check_interval_s
    send(harness, [face_result("after", "c1", []), phone_result("after", "c1")])
    harness.run(DECIDE_STAGE, decide)
    old, new = decisions(harness)["before"][0], decisions(harness)["after"][0]
    assert old.action is Action.LOCK_SCREEN and old.policy_version.startswith("2@")
    assert new.policy_version.startswith("3@")
    assert (new.action, new.reason) == (Action.SIGN_OUT, Reason.NO_FACE)
