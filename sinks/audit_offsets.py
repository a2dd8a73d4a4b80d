"""The audit log against the audit group's committed offsets: a cut that no checkpoint shows.

The audit sink commits a batch's offsets only after its lines are fsynced, so every offset
below what the group ``{ns}-audit`` committed has its line. A log that lacks some was cut,
even when the checkpoints were cut back with it (an old checkpoint file and an old record put
back). Committed offsets live in the cluster, out of reach of whoever holds the log file or
any key. A ``reanchored`` line (a restore from a backup) records the commits it accepts as
missing.
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaException, TopicPartition

from sinks.audit_log import AuditLog
from vigil.core.flow import AUDIT_STAGE, CONTROL, DECISIONS
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings

TIMEOUT_S = 10.0


class CommitsUnavailable(RuntimeError):
    """Kafka did not say what the audit group committed."""


def committed_offsets(settings: Settings, timeout_s: float = TIMEOUT_S
                      ) -> dict[str, dict[int, int]]:
    """topic -> partition -> the audit group's committed offset (partitions with one)."""
    consumer = make_consumer(settings, AUDIT_STAGE.group(settings))
    try:
        wanted = []
        for topic in (DECISIONS.name(settings), CONTROL.name(settings)):
            metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if metadata is None or metadata.error is not None:
                continue
            wanted += [TopicPartition(topic, p) for p in metadata.partitions]
        found: dict[str, dict[int, int]] = {}
        for tp in consumer.committed(wanted, timeout=timeout_s) if wanted else []:
            if tp.offset >= 0:
                found.setdefault(tp.topic, {})[tp.partition] = tp.offset
        return found
    except KafkaException as exc:
        raise CommitsUnavailable(f"the audit group's committed offsets at "
                                 f"{settings.kafka.bootstrap}: {exc.args[0]}") from None
    finally:
        consumer.close()


def missing_lines(audit_log: AuditLog, committed: Mapping[str, Mapping[int, int]]) -> list[str]:
    """topic[partition]: what was committed and is not in the log (nor accepted as missing)."""
    missing = []
    for topic, parts in sorted(committed.items()):
        for partition, offset in sorted(parts.items()):
            have = max(audit_log.high_water.get((topic, partition), -1) + 1,
                       audit_log.accepted.get((topic, partition), 0))
            if have < offset:
                missing.append(f"{topic}[{partition}] committed up to {offset}, the log holds "
                               f"lines up to {have}")
    return missing


def cut_below_commits(settings: Settings, audit_log: AuditLog) -> str | None:
    """Why the log lacks lines the audit group committed (None when it lacks none)."""
    missing = missing_lines(audit_log, committed_offsets(settings))
    if not missing:
        return None
    return ("the log lacks lines the audit sink had committed (" + "; ".join(missing)
            + "): lines were cut")
