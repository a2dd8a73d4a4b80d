"""The topics of ARCHITECTURE.md, and creating them under the namespace."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from vigil.settings import Settings

log = logging.getLogger(__name__)

FRAMES = "frames"
FACE_RESULTS = "face-results"
PHONE_RESULTS = "phone-results"
DECISIONS = "decisions"
CONTROL = "control"
FRAMES_DLQ = "frames.dlq"

# Every topic is keyed by client_id and has the same partition count, so one client's frames,
# results and decisions land in partitions with the same number.
TOPICS = (FRAMES, FACE_RESULTS, PHONE_RESULTS, DECISIONS, CONTROL, FRAMES_DLQ)


@dataclass(frozen=True)
class TopicReport:
    name: str
    created: bool
    partitions: int


def create_topics(
    settings: Settings,
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout_s: float = 30.0,
) -> list[TopicReport]:
    """Create every topic under the namespace; existing topics are left as they are."""
    count = partitions or settings.partitions
    replicas = replication_factor or settings.replication_factor
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = admin.list_topics(timeout=timeout_s).topics
    wanted = [settings.topic(t) for t in TOPICS]
    new = [
        NewTopic(name, num_partitions=count, replication_factor=replicas)
        for name in wanted
        if name not in existing
    ]
    created = set()
    if new:
        for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
            try:
                future.result()
                created.add(name)
                log.info("created topic %s with %d partitions", name, count)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a racing creator won
                    raise
    # A topic just created may take a moment to show in the metadata: wait for all of them.
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        missing = [name for name in wanted if name not in metadata]
        if not missing:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after {timeout_s:.0f} s: {missing}")
        time.sleep(0.2)
    return [
        TopicReport(name, name in created, len(metadata[name].partitions))
        for name in wanted
    ]
