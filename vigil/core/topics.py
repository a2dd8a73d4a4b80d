"""The topics of ARCHITECTURE.md, and creating them under the namespace."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic, TopicMetadata

from vigil.core.settings import Settings

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


def ensure_topics(
    settings: Settings, topics: list[NewTopic], timeout_s: float = 30.0
) -> tuple[set[str], dict[str, TopicMetadata]]:
    """Create the topics that are missing and wait until the metadata shows their partitions.

    A topic just created may take a moment to show in the metadata; callers that list it (or
    a Faust worker that subscribes to it) must not run before it does. Returns the names
    created by this call and the metadata of every topic.
    """
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [topic for topic in topics if topic.topic not in existing]
    created = set()
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=timeout_s).items():
            try:
                future.result()
                created.add(name)
                log.info("created topic %s", name)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a racing creator won
                    raise
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        absent = [t.topic for t in topics
                  if t.topic not in metadata or not metadata[t.topic].partitions]
        if not absent:
            return created, metadata
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after {timeout_s:.0f} s: {absent}")
        time.sleep(0.2)


def create_topics(
    settings: Settings,
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout_s: float = 30.0,
) -> list[TopicReport]:
    """Create every topic under the namespace; existing topics are left as they are."""
    count = partitions or settings.partitions
    replicas = replication_factor or settings.replication_factor
    wanted = [
        NewTopic(settings.topic(t), num_partitions=count, replication_factor=replicas)
        for t in TOPICS
    ]
    created, metadata = ensure_topics(settings, wanted, timeout_s)
    return [
        TopicReport(t.topic, t.topic in created, len(metadata[t.topic].partitions))
        for t in wanted
    ]
