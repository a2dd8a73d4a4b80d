"""A message a stage cannot handle, for any reason, goes to the dead-letter topic with the
reason, and the stage goes on (issue 20 item 8): before, an unexpected error of one message
failed its whole batch again and again, and `vigil up` stopped everything after five
restarts. Run broker-free through the harness, in the loop the runner uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Message

from vigil.core import stage_loop
from vigil.core.flow import DECISIONS, FRAMES_DLQ, stage
from vigil.core.flow_types import BatchHandler
from vigil.core.settings import load_settings
from vigil.testing.harness import Harness


class Picky(BatchHandler):
    """Handles every message but the one whose value is b"poison"."""

    def __init__(self) -> None:
        self.handled: list[bytes] = []

    def handle(self, batch: list[Message]) -> None:
        values = [m.value() or b"" for m in batch]
        if b"poison" in values:
            raise ValueError("year 10000 is out of range")  # what a poison message raises
        self.handled.extend(values)


def test_one_poison_message_is_dead_lettered_and_the_rest_handled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stage_loop, "POISON_BACKOFF_S", 0.0)  # no pause between tries here
    settings = load_settings(state_dir=tmp_path)
    harness = Harness(settings)
    for value in (b"one", b"poison", b"two", b"three"):
        harness.send(DECISIONS, "c1", value)
    picky = Picky()
    entry = stage("evidence")
    assert harness.run(entry, picky) == 4
    assert picky.handled == [b"one", b"two", b"three"]
    dead = harness.records(FRAMES_DLQ)
    assert [m.value() for m in dead] == [b"poison"]
    headers = dict(dead[0].headers() or [])
    assert b"ValueError: year 10000 is out of range" in headers["error"]
    assert headers["stage"] == b"evidence"
    assert harness.committed(entry) == {f"{DECISIONS.name(settings)}[0]": 4}
