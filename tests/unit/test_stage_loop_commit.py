"""A stage whose group moved on while it was cut off keeps running; other commit errors stop it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from vigil.core.settings import load_settings
from vigil.core.stage_loop import StageLoop


@dataclass
class OneMessage:
    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "vigil.frames"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 41


@dataclass
class RefusingConsumer:
    """Hands out one message, then refuses its commit with ``code``."""

    code: int
    commits: list[Any] = field(default_factory=list)

    def consume(self, num_messages: int, timeout: float) -> list[OneMessage]:
        return [OneMessage()]

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        self.commits.append(offsets)
        raise KafkaException(KafkaError(self.code))

    def assignment(self) -> list[Any]:
        return []

    def position(self, partitions: list[Any]) -> list[Any]:
        return []


def loop(handled: list[int]) -> StageLoop:
    return StageLoop(load_settings(), "face", ["vigil.frames"], "vigil-face",
                     lambda batch: handled.append(len(batch)))


def test_a_commit_refused_after_a_rebalance_does_not_stop_the_stage() -> None:
    handled: list[int] = []
    consumer = RefusingConsumer(KafkaError.UNKNOWN_MEMBER_ID)
    assert loop(handled).step(consumer) == 1  # type: ignore[arg-type]
    assert handled == [1] and len(consumer.commits) == 1


def test_any_other_commit_error_still_stops_it() -> None:
    with pytest.raises(KafkaException):
        loop([]).step(RefusingConsumer(KafkaError._TRANSPORT))  # type: ignore[arg-type]
