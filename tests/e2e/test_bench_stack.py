"""`vigil bench sessions --stack` through the shared `vigil up`: the in-process bench decides
every frame as the deployment does, over protocol v1, with Kafka, Redis and the models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas.events import Action, ChallengeState
from tests.bench.session_set import make_session_set
from tests.conftest import require_testdata
from tests.stack import Running
from vigil.apps.bench.sessions.bench import BenchOptions, run_sessions
from vigil.apps.bench.sessions.report import _differing_sessions, format_report
from vigil.apps.bench.sessions.stack import label
from vigil.core.settings import load_settings

pytestmark = pytest.mark.integration


def test_the_session_bench_decides_every_frame_as_the_stack_does(
        running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bench's in-process column under the deployment's own settings (policy, weights).
    for name in [n for n in os.environ if n.startswith("VIGIL_")]:
        monkeypatch.delenv(name)
    for name, value in running.env.items():
        if name.startswith("VIGIL_"):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    tiny = make_session_set(require_testdata(), tmp_path / "tiny", hand_print=True)
    # No impostors: this stack has other clients enrolled, so its enrollment sets each bench
    # client its own threshold against them, where the in-process column uses the global one.
    report = run_sessions(settings, BenchOptions(
        (tiny,), fps=4.0, pair_limit=0, cache_dir=tmp_path / "cache", stack=True))
    in_process, through = report.columns[0], report.columns[-1]
    stack = report.stack
    assert stack is not None and through.alternative.label == "through the stack"

    # Every session the bench made is run: 2 genuine, 3 attacks and the phone session (its
    # person is enrolled).
    assert sorted(s.kind for s, _ in stack.runs) == sorted(s.kind for s, _ in in_process.runs)
    assert len(stack.runs) == 6 and not stack.skipped and not stack.refused
    # Every frame is decided, but those in flight when the server blocked a client.
    for session, _ in stack.runs:
        if label(session) not in stack.blocked:
            assert all(stack.decided[label(session)]), session.name
    # The server blocked the clients the in-process Decider escalates to block (the woman
    # holding a phone, signed out on each frame, among them), and no other.
    escalated = {label(s) for s, steps in in_process.runs
                 if any(step.action == "block" for step in steps)}
    assert "phone tiny/woman.1" in escalated and stack.blocked == escalated

    # The live picture moved about by a hand: the face stage's scene measure (per client,
    # across the stage's batches) asks a head turn on the frame that would be its first
    # allow, in the deployment as in-process (challenges.on_flat, shipped on).
    for column in (in_process.runs, stack.runs):
        hand = next(steps for s, steps in column if s.name == "tiny/t.print-2")
        assert [step.challenge for step in hand[:3]] == [None, None, ChallengeState.PENDING]
        assert all(step.action is not Action.ALLOW for step in hand)

    # Each decided frame gets the same action and reason both ways.
    assert _differing_sessions(in_process.runs, stack.runs, stack.decided) == {
        label(s): 0 for s, _ in stack.runs}
    text = format_report(report)
    assert "frames decided otherwise than configured (of those the stack decided): 0 of" in text
