"""The decide worker against a real broker: one Faust worker subprocess shared by the cases.

Each case uses its own client ids and frame ids, so cases do not see each other's decisions.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors.decide.internal_topics import changelog_topic
from processors.decide.policy_file import DEFAULT_POLICY_FILE
from schemas.events import (
    Action,
    ControlEvent,
    ControlKind,
    FaceResult,
    PhoneResult,
    Reason,
    Unprocessed,
)
from tests.conftest import Infra, make_settings
from tests.decide.harness import (
    ControlReader,
    DecideWorker,
    DecisionReader,
    TopicReader,
    produce_results,
)
from tests.decide.results import SMALL, face, face_result, phone_result
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings
from vigil.core.topics import CONTROL, create_topics
from vigil.local.servers import free_port

pytestmark = pytest.mark.integration
DEADLINE_MS = 2000
# The shipped policy, with escalation after 2 sign-outs so one test can reach a block quickly,
# and no temporal gate or spoof window, so each case decides on its one frame
# (test_decide_restart.py, tests/decide/test_temporal.py and test_graded.py cover those).
EDITS = {"sign_outs: 3": "sign_outs: 2", "min_live_frames: 3": "min_live_frames: 0",
         "window: 3": "window: 1", "window: 6": "window: 1", "spoof_frames: 3": "spoof_frames: 1",
         "spoof_below: 0.05": "spoof_below: 0.5"}
POLICY = DEFAULT_POLICY_FILE.read_text()
for before, after in EDITS.items():
    assert before in POLICY, f"the shipped policy no longer has {before!r}"
    POLICY = POLICY.replace(before, after)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def shared(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory, weights_dir: Path
) -> Iterator[tuple[Settings, DecideWorker, int]]:
    tmp = tmp_path_factory.mktemp("decide")
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    settings = make_settings(infra, f"t{uuid.uuid4().hex[:10]}", tmp / "state", weights_dir,
                             decide_deadline_ms=DEADLINE_MS, policy_file=policy,
                             policy_check_interval_s=0.2)
    create_topics(settings)
    metrics_port = free_port()
    worker = DecideWorker(settings, tmp / "worker.log").start(f"--metrics-port={metrics_port}")
    yield settings, worker, metrics_port
    code = worker.stop()
    assert code == 0, f"worker exit code {code}; log:\n{worker.log_text()[-3000:]}"


@pytest.fixture
def reader(shared: tuple[Settings, DecideWorker, int]) -> Iterator[DecisionReader]:
    settings, worker, _ = shared
    reader = DecisionReader(settings)
    yield reader
    reader.close()
    assert worker.alive(), f"worker died; log:\n{worker.log_text()[-3000:]}"


def test_both_halves_make_one_decision_per_policy_case(
    shared: tuple[Settings, DecideWorker, int], reader: DecisionReader
) -> None:
    settings, _, metrics_port = shared
    cases = {  # frame_id -> (face faces, phone confidences, expected action, reason)
        uid("noface"): ([], (0.9,), Action.LOCK_SCREEN, Reason.NO_FACE),
        uid("spoof"): ([face(liveness=0.1)], (), Action.SIGN_OUT, Reason.SPOOF),
        uid("stranger"): ([face(distance=1.5)], (), Action.LOCK_SCREEN, Reason.WRONG_USER),
        uid("phone"): ([face()], (0.8,), Action.SIGN_OUT, Reason.PHONE),
        uid("crowd"): ([face(), face(box=SMALL)], (), Action.LOCK_SCREEN,
                       Reason.MULTIPLE_FACES),
        uid("ok"): ([face()], (0.1,), Action.ALLOW, Reason.OK),
    }
    results: list = []
    for frame_id, (faces, phones, _, _) in cases.items():
        client = f"c-{frame_id}"  # each case its own client: no streaks or escalation mix
        results += [phone_result(frame_id, client, phones), face_result(frame_id, client, faces)]
    partitions = produce_results(settings, results)

    decisions = reader.wait_for(cases, timeout_s=60)
    reader.poll_for(1.0)
    for frame_id, (_, _, action, reason) in cases.items():
        d = decisions[frame_id]
        assert (d.action, d.reason, d.missing) == (action, reason, []), frame_id
        assert d.client_id == f"c-{frame_id}" and d.policy_version.startswith("2@")
        assert len(reader.decisions(frame_id)) == 1
        # Same partition number as the client's results: downstream joins stay local.
        assert reader.partition_of(frame_id) == partitions[d.client_id]
    assert decisions[next(iter(cases))].scores["phone"] == pytest.approx(0.9)

    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    assert b'vigil_decisions_total{action="sign_out",reason="spoof"}' in body
    assert b"vigil_end_to_end_latency_seconds_count" in body
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5) as r:
        assert r.status == 200


def test_a_lone_face_half_is_decided_incomplete_after_the_deadline(
    shared: tuple[Settings, DecideWorker, int], reader: DecisionReader
) -> None:
    settings, _, _ = shared
    frame_id = uid("lonely")
    produced_ms = int(time.time() * 1000)
    produce_results(settings, [face_result(frame_id, uid("c"))])
    d = reader.wait_for([frame_id], timeout_s=30)[frame_id]
    assert (d.action, d.reason, d.missing) == (Action.LOCK_SCREEN, Reason.INCOMPLETE, ["phone"])
    assert d.decided_at - produced_ms >= DEADLINE_MS - 50  # not before the deadline
    assert d.scores["liveness"] == pytest.approx(0.9)


def test_replayed_results_make_no_second_decision(
    shared: tuple[Settings, DecideWorker, int], reader: DecisionReader
) -> None:
    settings, _, _ = shared
    frame_id, client = uid("replay"), uid("c")
    pair: list[FaceResult | PhoneResult] = [face_result(frame_id, client),
                                            phone_result(frame_id, client)]
    produce_results(settings, pair + pair)  # a producer retry: both halves twice
    reader.wait_for([frame_id], timeout_s=30)
    produce_results(settings, pair)  # a replay after the decision
    reader.poll_for(DEADLINE_MS / 1000 + 1.5)  # past the deadline: no incomplete either
    assert [d.reason for d in reader.decisions(frame_id)] == [Reason.OK]


def test_repeated_sign_outs_escalate_to_block_and_a_control_event(
    shared: tuple[Settings, DecideWorker, int], reader: DecisionReader
) -> None:
    settings, _, _ = shared
    client = uid("esc")
    frames = [uid("esc-f") for _ in range(2)]
    for n, frame_id in enumerate(frames):  # in order: the second sign-out escalates
        produce_results(settings, [face_result(frame_id, client, [face(0.1)], seq=n),
                                   phone_result(frame_id, client, seq=n)])
        reader.wait_for([frame_id], timeout_s=30)
    actions = [reader.decisions(f)[0].action for f in frames]
    assert actions == [Action.SIGN_OUT, Action.BLOCK]

    control = ControlReader(settings)
    try:
        control.wait_until(lambda: any(e.client_id == client for e in control.events()), 20)
        events = [e for e in control.events() if e.client_id == client]
    finally:
        control.close()
    assert [e.kind for e in events] == [ControlKind.BLOCKED]
    assert events[0].actor == "decide" and frames[1] in events[0].reason


def test_a_policy_edit_applies_to_later_decisions_without_a_restart(
    shared: tuple[Settings, DecideWorker, int], reader: DecisionReader
) -> None:
    settings, _, _ = shared
    assert settings.policy_file is not None
    before = uid("before")
    client = uid("c")
    produce_results(settings, [face_result(before, client, []), phone_result(before, client)])
    old = reader.wait_for([before])[before]
    assert old.action is Action.LOCK_SCREEN and old.policy_version.startswith("2@")
    try:
        settings.policy_file.write_text(
            POLICY.replace('version: "2"', 'version: "3"')
            .replace("no_face: lock_screen", "no_face: sign_out"))
        time.sleep(1.0)  # the worker checks the file every 0.2 s in this module
        after = uid("after")
        produce_results(settings, [face_result(after, client, []), phone_result(after, client)])
        new = reader.wait_for([after])[after]
    finally:
        settings.policy_file.write_text(POLICY)
    assert new.policy_version.startswith("3@") and new.policy_version != old.policy_version
    assert (new.action, new.reason) == (Action.SIGN_OUT, Reason.NO_FACE)


def test_control_events_and_unprocessed_halves_are_acted_on(
    shared: tuple[Settings, DecideWorker, int], reader: DecisionReader
) -> None:
    settings, _, _ = shared
    client = uid("ctl")
    producer = make_producer(settings)
    event = ControlEvent(event_id=uid("ev"), client_id=client, kind=ControlKind.BLOCKED,
                         reason="by an operator", at=1, actor="cli")
    producer.produce(CONTROL.name(settings), key=client, value=CONTROL.serializer.dumps(event))
    assert producer.flush(30) == 0
    # Another topic than the results: wait until the worker recorded the state.
    changelog = TopicReader(settings, changelog_topic(settings, "clients"))
    try:
        assert changelog.wait_until(
            lambda: any(json.loads(m.key()) == client for m in changelog.messages), 30)
    finally:
        changelog.close()
    blocked, bad = uid("blocked"), uid("bad")
    produce_results(settings, [face_result(blocked, client), phone_result(blocked, client),
                               phone_result(bad, uid("c"), unprocessed=Unprocessed.BAD_FRAME,
                                            error="undecodable: x")])
    decisions = reader.wait_for([blocked, bad], timeout_s=30)
    assert (decisions[blocked].action, decisions[blocked].reason) == (Action.BLOCK, Reason.OK)
    assert decisions[blocked].scores["client_blocked"] == 1.0
    # The bad frame is decided without waiting for its face half (deadline 2 s).
    d = decisions[bad]
    assert (d.action, d.reason, d.missing) == (Action.LOCK_SCREEN, Reason.BAD_FRAME, [])
    assert d.decided_at - d.received_at < DEADLINE_MS
