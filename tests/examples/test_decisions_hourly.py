"""The analysts' example consumer against a real broker, run as they would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from schemas.events import Action, Decision, FrameRef, Reason
from tests.conftest import REPO
from vigil.core.flow import DECISIONS
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings
from vigil.core.utc import format_utc

pytestmark = pytest.mark.integration
HOUR_MS = 3_600_000
# Two whole hours before the current one (the broker refuses timestamps far in the future).
H0 = (int(time.time() * 1000) // HOUR_MS - 2) * HOUR_MS
H1 = H0 + HOUR_MS


def decision(frame_id: str, client: str, reason: Reason, at: int) -> Decision:
    action = Action.ALLOW if reason is Reason.OK else Action.LOCK_SCREEN
    return Decision(frame_id=frame_id, client_id=client, session_id="s-1", seq=1,
                    frame=FrameRef(topic="t.frames", partition=0, offset=0),
                    captured_at=at - 50, received_at=at - 40, decided_at=at, action=action,
                    reason=reason, policy_version="1@abcdef01")


def run_example(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "examples/decisions_hourly.py", "--bootstrap",
         settings.kafka.bootstrap, "--namespace", settings.deployment.namespace, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True)


def test_hourly_counts_per_client_and_reason(topics: Settings) -> None:
    made = [decision("a1", "alice", Reason.OK, H0 + 60_000),
            decision("a2", "alice", Reason.OK, H0 + 120_000),
            decision("a3", "alice", Reason.PHONE, H0 + 1_800_000),
            decision("a4", "alice", Reason.OK, H1 + 5_000),
            decision("b1", "bob", Reason.NO_FACE, H0 + 10_000),
            decision("b2", "bob", Reason.NO_FACE, H0 + HOUR_MS - 1)]
    producer = make_producer(topics)
    for d in made:
        producer.produce(DECISIONS.name(topics), key=d.client_id,
                         value=DECISIONS.serializer.dumps(d), timestamp=d.decided_at)
    producer.produce(DECISIONS.name(topics), key="alice", value=b'{"action": "allow"}',
                     timestamp=H1 + 6_000)
    assert producer.flush(30) == 0

    every = run_example(topics)
    h0, h1 = format_utc(H0)[:16], format_utc(H1)[:16]
    rows = [line.split() for line in every.stdout.splitlines()[1:-1]]
    assert rows == [[*h0.split(), "alice", "ok", "2"], [*h0.split(), "alice", "phone", "1"],
                    [*h0.split(), "bob", "no_face", "2"], [*h1.split(), "alice", "ok", "1"]]
    assert "6 decisions counted" in every.stdout and "1 invalid" in every.stdout
    assert "invalid decision at" in every.stderr and "@" in every.stderr

    later = run_example(topics, "--from", format_utc(H1).replace(" ", "T"))
    assert [line.split()[2:] for line in later.stdout.splitlines()[1:-1]] == [
        ["alice", "ok", "1"]]
