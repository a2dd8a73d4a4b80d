"""The decide stage's internal topics, created before the Faust worker starts.

Faust creates its internal topics itself, but right before its consumer subscribes: on a
fresh KRaft broker the new topic is sometimes not yet in the metadata the group leader sees,
Faust logs ``Ignoring missing topic``, and that topic stays unassigned until the next
rebalance (minutes away: a metadata refresh). Creating them here first, and waiting until
the metadata shows them, removes the race. Faust then finds them existing.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from vigil.settings import Settings

log = logging.getLogger(__name__)

TABLES = ("pending", "decided", "clients")
TICKS_RETENTION_MS = 3_600_000  # a tick is stale within seconds; keep an hour for debugging


def app_id(settings: Settings) -> str:
    """The Faust app id, which is also the consumer group and the internal topics' prefix."""
    return f"{settings.namespace}-decide"


def ticks_topic(settings: Settings) -> str:
    return f"{app_id(settings)}-ticks"


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog: ``{app_id}-{table}-changelog``."""
    return f"{app_id(settings)}-{table}-changelog"


def internal_topics(settings: Settings) -> list[NewTopic]:
    n, rf = settings.partitions, settings.replication_factor
    topics = [NewTopic(ticks_topic(settings), num_partitions=n, replication_factor=rf,
                       config={"retention.ms": str(TICKS_RETENTION_MS)}),
              NewTopic(f"{app_id(settings)}-__assignor-__leader", num_partitions=1,
                       replication_factor=rf)]
    topics += [NewTopic(changelog_topic(settings, t), num_partitions=n, replication_factor=rf,
                        config={"cleanup.policy": "compact"}) for t in TABLES]
    return topics


def ensure_internal_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the internal topics that are missing and wait until the metadata shows them."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    wanted = internal_topics(settings)
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [t for t in wanted if t.topic not in existing]
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=timeout_s).items():
            try:
                future.result()
                log.info("created topic=%s", name)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another worker won
                    raise
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        absent = [t.topic for t in wanted
                  if t.topic not in metadata or not metadata[t.topic].partitions]
        if not absent:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics not visible after {timeout_s}s: {', '.join(absent)}")
        time.sleep(0.2)
