"""The decide worker as a subprocess, and reading/writing its topics, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from schemas.events import Decision, FaceResult, PhoneResult
from vigil.core.flow import DECISIONS, FACE_RESULTS, PHONE_RESULTS
from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import Settings, flat_names

REPO = Path(__file__).resolve().parents[2]
# The fields a decide worker needs from the test's settings, passed as VIGIL_* variables.
ENV_FIELDS = ("kafka_bootstrap", "redis_url", "namespace", "state_dir", "partitions",
              "log_level", "decide_deadline_ms", "policy_file", "policy_check_interval_s",
              "decided_frames_ttl_s", "decided_sweep_interval_s")


def worker_env(settings: Settings) -> dict[str, str]:
    """This process's environment without VIGIL_* variables, plus the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("VIGIL_")}
    for name in ENV_FIELDS:
        area, field = flat_names()[name]
        value = getattr(getattr(settings, area), field)
        if value is not None:
            env[f"VIGIL_{name.upper()}"] = str(value)
    env["PYTHONPATH"] = str(REPO)
    return env


class DecideWorker:
    """``vigil process decide`` with the test's settings; its log in a file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> DecideWorker:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.apps.cli", "process", "decide",
             *(args or ("--metrics-port=0",))], cwd=REPO,
            env=worker_env(self.settings), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"worker ignored SIGTERM for {timeout_s}s") from None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def produce_results(
    settings: Settings, results: Iterable[FaceResult | PhoneResult]
) -> dict[str, int]:
    """Produce results keyed by client_id, the way the face and phone processors do.

    Returns the partition each client's results went to.
    """
    producer = make_producer(settings)
    errors: list[str] = []
    partitions: dict[str, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        if err:
            errors.append(str(err))
        else:
            partitions[msg.key().decode()] = msg.partition()

    for result in results:
        if isinstance(result, FaceResult):
            topic, value = FACE_RESULTS.name(settings), FACE_RESULTS.serializer.dumps(result)
        else:
            topic, value = PHONE_RESULTS.name(settings), PHONE_RESULTS.serializer.dumps(result)
        producer.produce(topic, key=result.client_id, value=value, on_delivery=delivered)
    assert producer.flush(30) == 0
    assert errors == []
    return partitions


class TopicReader:
    """Reads one topic from the beginning, every partition, outside any consumer group."""

    def __init__(self, settings: Settings, topic: str, wait_s: float = 30.0) -> None:
        self.consumer: Consumer = make_consumer(settings, f"reader-{uuid.uuid4().hex[:8]}")
        parts: dict[int, Any] = {}
        deadline = time.monotonic() + wait_s  # a topic Faust creates appears after its start
        while not parts and time.monotonic() < deadline:
            found = self.consumer.list_topics(timeout=10).topics.get(topic)
            parts = found.partitions if found is not None and not found.error else {}
            if not parts:
                time.sleep(0.3)
        assert parts, f"topic {topic} does not exist after {wait_s}s"
        self.consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        self.messages: list[Any] = []

    def poll_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is not None and not msg.error():
                self.messages.append(msg)

    def wait_until(self, done: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is not None and not msg.error():
                self.messages.append(msg)
        return bool(done())

    def close(self) -> None:
        self.consumer.close()


class DecisionReader(TopicReader):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, DECISIONS.name(settings))

    def partition_of(self, frame_id: str) -> int:
        """The partition of the first Decision of a frame."""
        return next(m.partition() for m in self.messages
                    if DECISIONS.serializer.loads(m.value()).frame_id == frame_id)

    def decisions(self, frame_id: str | None = None) -> list[Decision]:
        out = [DECISIONS.serializer.loads(m.value()) for m in self.messages]
        return [d for d in out if frame_id is None or d.frame_id == frame_id]

    def wait_for(self, frame_ids: Iterable[str], timeout_s: float = 30.0) -> dict[str, Decision]:
        """Wait until every frame_id has a Decision; the first Decision of each."""
        wanted = set(frame_ids)
        self.wait_until(lambda: wanted <= {d.frame_id for d in self.decisions()}, timeout_s)
        found = {d.frame_id: d for d in reversed(self.decisions()) if d.frame_id in wanted}
        missing = wanted - set(found)
        assert not missing, f"no Decision within {timeout_s}s for {sorted(missing)}"
        return found
