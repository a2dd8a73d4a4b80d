"""`vigil client` prints a step-up challenge and each decision's challenge state."""

from __future__ import annotations

import asyncio

import pytest

from vigil.apps.client import StreamReport, _record, print_message


def test_the_challenge_and_its_progress_are_printed_and_recorded(
        capsys: pytest.CaptureFixture[str]) -> None:
    challenge = {"type": "challenge", "id": "ch-1", "action": "turn_right", "deadline_ms": 9600}
    decision = {"type": "decision", "seq": 4, "action": "lock_screen", "reason": "ok",
                "scores": {"liveness": 0.91},
                "challenge": {"id": "ch-1", "action": "turn_right", "state": "pending",
                              "progress": 0.5, "detail": "come back"}}
    print_message(challenge)
    print_message(decision)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "CHALLENGE  turn your head to your right and back, within 10 s (id ch-1)"
    assert lines[1].endswith("liveness=0.91 challenge=pending 50% come back")
    report = StreamReport()
    _record(report, challenge, asyncio.Event())
    assert report.challenges == [challenge] and not report.errors
