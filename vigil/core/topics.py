"""Creating the flow table's topics (vigil/core/flow.py) on a cluster, with their durability.

``create_topics`` makes every topic of the table, or the few a stage needs before it runs (the
audit checkpoints, decide's internal topics), each with its partitions, cleanup policy,
retention and the copies the cluster allows, and fixes the retention of topics made earlier.
The topic objects themselves are declared in vigil/core/flow.py (also importable from here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    TopicMetadata,
)

from vigil.core.errors import VigilError
from vigil.core.flow import (  # noqa: F401  (re-exported for callers that import them here)
    CONTROL,
    DECISIONS,
    FACE_RESULTS,
    FRAMES,
    FRAMES_DLQ,
    PHONE_RESULTS,
    TOPICS,
)
from vigil.core.flow_types import ClientKey, Retention, Topic  # noqa: F401  (re-exported)
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


MAX_REPLICAS = 3  # copies of each partition on a cluster of three or more brokers


class TopicError(VigilError, RuntimeError):
    """Topics that cannot be created as asked; the message says what to change."""


@dataclass(frozen=True)
class Durability:
    """Copies of every partition, and how many must hold a write before acks=all answers."""

    replicas: int
    min_insync: int

    def config(self) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync)}


def durability_for(brokers: int, replication_factor: int | None = None) -> Durability:
    """The one rule for every topic: 3 copies (2 in sync) on 3+ brokers, 1 and 1 on one.

    ``replication_factor`` (the setting, or a command's option) overrides the copies;
    min.insync.replicas is always one less, at least 1, so one copy may be lost.
    """
    replicas = replication_factor or min(brokers, MAX_REPLICAS)
    if replicas > brokers:
        raise TopicError(f"replication factor {replicas} needs {replicas} brokers, the cluster "
                         f"has {brokers}: lower replication_factor or unset it")
    return Durability(replicas, max(1, replicas - 1))


def cluster_durability(settings: Settings, replication_factor: int | None = None,
                       timeout_s: float = 30.0) -> Durability:
    """durability_for the brokers the cluster reports now (live, registered brokers)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    brokers = len(admin.list_topics(timeout=timeout_s).brokers)
    return durability_for(brokers, replication_factor or settings.kafka.replication_factor)


@dataclass(frozen=True)
class TopicReport:
    name: str
    created: bool
    partitions: int
    retention_ms: int | None  # None: the topic sets none (compacted)
    retention_changed: bool = False


def ensure_topics(
    settings: Settings, topics: list[NewTopic], timeout_s: float = 30.0
) -> tuple[set[str], dict[str, TopicMetadata]]:
    """Create the topics that are missing and wait until the metadata shows their partitions.

    A topic just created may take a moment to show in the metadata; callers that list it (or
    a Faust worker that subscribes to it) must not run before it does. Returns the names
    created by this call and the metadata of every topic.
    """
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
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


def set_retention(settings: Settings, wanted: dict[str, int], timeout_s: float = 30.0
                  ) -> set[str]:
    """Set ``retention.ms`` on existing topics where it differs; returns the names changed."""
    if not wanted:
        return set()
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in wanted]
    current: dict[str, int] = {}
    for resource, future in admin.describe_configs(resources,
                                                   request_timeout=timeout_s).items():
        entry = future.result().get("retention.ms")
        current[resource.name] = int(entry.value) if entry is not None else -1
    stale = [name for name, ms in wanted.items() if current.get(name) != ms]
    if not stale:
        return set()
    changes = [ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", str(wanted[name]),
                    incremental_operation=AlterConfigOpType.SET)]) for name in stale]
    for resource, future in admin.incremental_alter_configs(
            changes, request_timeout=timeout_s).items():
        future.result()
        log.info("retention.ms of %s set to %d (was %s)", resource.name, wanted[resource.name],
                 current.get(resource.name))
    return set(stale)


def create_topics(
    settings: Settings,
    topics: Sequence[Topic[Any]] = TOPICS,
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout_s: float = 30.0,
) -> list[TopicReport]:
    """Create ``topics`` (by default every topic of the flow table) as the table declares
    them; fix retention.ms on those that existed. ``partitions`` overrides the flow's count
    (topics with a count of their own keep it)."""
    copies = cluster_durability(settings, replication_factor, timeout_s)
    wanted = [
        NewTopic(t.name(settings), num_partitions=t.partition_count(settings, partitions),
                 replication_factor=copies.replicas,
                 config={**copies.config(), **t.topic_config(settings)})
        for t in topics
    ]
    retention = {t.name(settings): t.retention.ms(settings) for t in topics}
    created, metadata = ensure_topics(settings, wanted, timeout_s)
    changed = set_retention(settings, {n: ms for n, ms in retention.items()
                                       if n not in created and ms is not None}, timeout_s)
    return [
        TopicReport(t.topic, t.topic in created, len(metadata[t.topic].partitions),
                    retention[t.topic], t.topic in changed)
        for t in wanted
    ]
