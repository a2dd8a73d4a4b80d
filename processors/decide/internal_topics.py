"""The decide stage's internal topics, created before the Faust worker starts.

Faust creates its internal topics itself, but right before its consumer subscribes: on a
fresh KRaft broker the new topic is sometimes not yet in the metadata the group leader sees,
Faust logs ``Ignoring missing topic``, and that topic stays unassigned until the next
rebalance (minutes away: a metadata refresh). Creating them here first, and waiting until
the metadata shows them, removes the race. Faust then finds them existing.
"""

from __future__ import annotations

from confluent_kafka.admin import NewTopic

from vigil.core.settings import Settings
from vigil.core.topics import Durability, cluster_durability, ensure_topics

TABLES = ("pending", "decided", "clients")
TICKS_RETENTION_MS = 3_600_000  # a tick is stale within seconds; keep an hour for debugging
# A worker recovers its tables by reading their changelogs, and Kafka compacts only closed
# segments (7 days by default): left alone, every frame's pending and decided entries (and
# their deletions) stay to be read at each start; 18,459 of them took 15 s. Segments roll
# every 10 minutes here, and deletions are kept 10 minutes (no standby replica reads them).
CHANGELOG_COMPACTION = {"cleanup.policy": "compact", "segment.ms": "600000",
                        "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": "600000"}


def app_id(settings: Settings) -> str:
    """The Faust app id, which is also the consumer group and the internal topics' prefix."""
    return f"{settings.deployment.namespace}-decide"


def ticks_topic(settings: Settings) -> str:
    return f"{app_id(settings)}-ticks"


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog: ``{app_id}-{table}-changelog``."""
    return f"{app_id(settings)}-{table}-changelog"


def internal_topics(settings: Settings, copies: Durability) -> list[NewTopic]:
    n, rf, isr = settings.kafka.partitions, copies.replicas, copies.config()
    topics = [NewTopic(ticks_topic(settings), num_partitions=n, replication_factor=rf,
                       config={**isr, "retention.ms": str(TICKS_RETENTION_MS)}),
              NewTopic(f"{app_id(settings)}-__assignor-__leader", num_partitions=1,
                       replication_factor=rf, config=isr)]
    topics += [NewTopic(changelog_topic(settings, t), num_partitions=n, replication_factor=rf,
                        config={**isr, **CHANGELOG_COMPACTION}) for t in TABLES]
    return topics


def ensure_internal_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the internal topics that are missing and wait until the metadata shows them."""
    copies = cluster_durability(settings, timeout_s=timeout_s)
    ensure_topics(settings, internal_topics(settings, copies), timeout_s)
