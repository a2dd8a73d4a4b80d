"""``vigil replay`` against a real broker: results and decisions produced here, re-decided
under another policy, compared; nothing written to the cluster."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from processors.decide.decider import Decider
from processors.decide.policy_file import DEFAULT_POLICY_FILE, parse_policy
from processors.decide.replay import print_report, replay
from schemas.events import Action, Decision, FaceResult, PhoneResult, Reason
from tests.decide.results import face, face_result, phone_result
from vigil.apps.cli import main
from vigil.core.flow import DECISIONS, FACE_RESULTS, PHONE_RESULTS, TOPICS
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration
BASE_MS = int(time.time() * 1000) - 600_000  # ten minutes ago, one frame a second
# The shipped policy without temporal evidence, identity evidence over frames or the spoof
# window, so each frame decides on its own (test_temporal.py, test_graded.py and
# test_identity.py cover those)...
BASE = DEFAULT_POLICY_FILE.read_text()
for before, after in {"min_live_frames: 3": "min_live_frames: 0", "window: 3": "window: 1",
                      "window: 5": "window: 1", "window: 6": "window: 1",
                      "spoof_frames: 3": "spoof_frames: 1",
                      "spoof_below: 0.05": "spoof_below: 0.5"}.items():
    assert before in BASE, f"the shipped policy no longer has {before!r}"
    BASE = BASE.replace(before, after)
# ...and with phones locking the screen and a lenient liveness threshold.
WHAT_IF = (BASE.replace('version: "2"', 'version: "what-if"')
           .replace("phone: sign_out", "phone: lock_screen")
           .replace("thresholds:\n", "thresholds:\n  liveness: 0.05\n"))


def frames() -> list[tuple[FaceResult | None, PhoneResult | None]]:
    """(face, phone) per frame; alice's are seq 1-6, bob's 7-8."""
    a, b = "alice", "bob"
    return [
        (face_result("a-ok", a, seq=1), phone_result("a-ok", a, (0.1,), seq=1)),
        (face_result("a-phone", a, seq=2), phone_result("a-phone", a, (0.8,), seq=2)),
        (face_result("a-spoof", a, [face(liveness=0.1)], seq=3), phone_result("a-spoof", a,
                                                                               seq=3)),
        (face_result("a-stranger", a, [face(distance=1.5)], seq=4),
         phone_result("a-stranger", a, seq=4)),
        (face_result("a-halfonly", a, seq=5), None),
        (face_result("a-phone2", a, seq=6), phone_result("a-phone2", a, (0.4,), seq=6)),
        (face_result("b-noface", b, [], seq=7), phone_result("b-noface", b, seq=7)),
        (face_result("b-ok", b, seq=8), phone_result("b-ok", b, seq=8)),
    ]


def decide_as_the_stage_did(settings: Settings) -> list[Decision]:
    """The original decisions (in frame order): the base policy, halves in order, each frame
    one second after the one before, and the deadline timer deciding a lone half once its
    deadline has passed (in time order with the other frames, as the stage does)."""
    policy = parse_policy(BASE, settings)
    now = [0]
    decider = Decider({}, {}, {}, lambda: policy, settings.decide.deadline_ms, lambda: now[0])
    decided: dict[str, Decision] = {}
    for i, (fr, ph) in enumerate(frames()):
        now[0] = BASE_MS + i * 1000 + 200
        decided.update((o.decision.frame_id, o.decision) for o in decider.on_deadline(0))
        for half, result in (("face", fr), ("phone", ph)):
            outcome = decider.on_result(half, result, 0) if result is not None else None
            if outcome is not None:
                decided[outcome.decision.frame_id] = outcome.decision
    now[0] += settings.decide.deadline_ms
    decided.update((o.decision.frame_id, o.decision) for o in decider.on_deadline(0))
    return [decided[(fr or ph).frame_id] for fr, ph in frames()]  # type: ignore[union-attr]


def produce_history(settings: Settings, decisions: list[Decision]) -> None:
    producer = make_producer(settings)
    for i, ((fr, ph), decision) in enumerate(zip(frames(), decisions, strict=True)):
        at = BASE_MS + i * 1000
        if fr is not None:
            producer.produce(FACE_RESULTS.name(settings), key=fr.client_id,
                             value=FACE_RESULTS.serializer.dumps(fr), timestamp=at + 50)
        if ph is not None:
            producer.produce(PHONE_RESULTS.name(settings), key=ph.client_id,
                             value=PHONE_RESULTS.serializer.dumps(ph), timestamp=at + 80)
        producer.produce(DECISIONS.name(settings), key=decision.client_id,
                         value=DECISIONS.serializer.dumps(decision),
                         timestamp=decision.decided_at + 5)
    producer.produce(FACE_RESULTS.name(settings), key="alice", value=b"{broken",
                     timestamp=BASE_MS + 8000)
    assert producer.flush(30) == 0


def cluster_state(settings: Settings) -> tuple[dict[str, int], list[str]]:
    """Messages per topic of the namespace, and the namespace's consumer groups."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    from confluent_kafka import Consumer, TopicPartition

    from vigil.core.kafka import watermarks

    probe = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": "probe"})
    try:
        ends = {t.name(settings): sum(
            watermarks(probe, TopicPartition(t.name(settings), p), 10)[1]
            for p in range(t.partition_count(settings))) for t in TOPICS}
    finally:
        probe.close()
    groups = admin.list_consumer_groups(request_timeout=10).result().valid
    return ends, sorted(
        g.group_id for g in groups if g.group_id.startswith(settings.deployment.namespace)
    )


@pytest.fixture
def history(topics: Settings) -> tuple[Settings, list[Decision]]:
    decisions = decide_as_the_stage_did(topics)
    # a-phone2 is alice's third sign-out: block; her lone half, decided after it, too.
    assert [d.action for d in decisions] == [
        Action.ALLOW, Action.SIGN_OUT, Action.SIGN_OUT, Action.LOCK_SCREEN,
        Action.BLOCK, Action.BLOCK, Action.LOCK_SCREEN, Action.ALLOW]
    produce_history(topics, decisions)
    return topics, decisions


def test_replay_under_the_same_policy_changes_nothing(history: tuple[Settings, list[Decision]]
                                                      ) -> None:
    settings, decisions = history
    report = replay(settings, parse_policy(BASE, settings), None, None, None)
    assert len(report.frames) == 8 and report.broken == 1
    # In the order they were decided: the lone half's deadline came after a-phone2.
    assert [(f.before, f.after.action, f.after.reason) for f in report.frames] == [
        (d, d.action, d.reason) for d in sorted(decisions, key=lambda d: d.decided_at)]
    assert report.changed() == []


def test_what_if_prints_counts_and_changed_frames_and_writes_nothing(
    history: tuple[Settings, list[Decision]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, _ = history
    before = cluster_state(settings)
    policy_file = tmp_path / "what-if.yaml"
    policy_file.write_text(WHAT_IF)
    for name, value in {"KAFKA_BOOTSTRAP": settings.kafka.bootstrap, "PARTITIONS": "4",
                        "NAMESPACE": settings.deployment.namespace,
                        "STATE_DIR": str(settings.deployment.state_dir)}.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)
    assert main(["replay", "--policy", str(policy_file), "--client", "alice"]) == 0
    out = capsys.readouterr().out
    assert "6 frames of client alice" in out
    assert "  phone                2       2" in out
    assert "  spoof                1       0" in out and "  ok                   1       2" in out
    assert "  sign_out             2       0" in out and "  block                2       0" in out
    assert "4 frames change action, 0 change reason only" in out
    assert "a-phone  sign_out (phone) -> lock_screen (phone)" in out
    assert "a-spoof  sign_out (spoof) -> allow (ok)" in out
    assert "a-phone2  block (phone) -> lock_screen (phone)" in out
    assert "a-halfonly  block (incomplete) -> lock_screen (incomplete)" in out  # never blocked
    assert "b-" not in out
    assert cluster_state(settings) == before


def test_window_by_time_and_policy_errors(history: tuple[Settings, list[Decision]]) -> None:
    settings, _ = history
    policy = parse_policy(WHAT_IF, settings)
    report = replay(settings, policy, None, BASE_MS + 1000, BASE_MS + 3500)
    assert [f.after.frame_id for f in report.frames] == ["a-phone", "a-spoof", "a-stranger"]
    # The streak and sign-outs start empty at the window: a-phone is its first sign-out.
    text = io.StringIO()
    print_report(report, text)
    assert "3 frames of every client" in text.getvalue()
    assert [f.after.reason for f in report.frames] == [Reason.PHONE, Reason.OK,
                                                       Reason.WRONG_USER]
