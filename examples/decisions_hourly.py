"""Hourly decision counts per client and reason: an example consumer of the decisions topic.

Run it beside a Vigil deployment (any machine that reaches its Kafka cluster)::

    python examples/decisions_hourly.py --bootstrap 127.0.0.1:9092 --namespace vigil \\
        [--from 2026-11-24T00:00Z] [--to 2026-11-25T00:00Z]

It reads ``{namespace}.decisions`` from the first message at or after ``--from`` (else the
beginning) to the end of the topic as it is when it starts, then prints one line per hour,
client and reason, by the decision's own time (``decided_at``, UTC). Its partitions are
assigned, not subscribed: it joins no consumer group and commits nothing, so running it
changes nothing for anyone else.

Each message is checked against the Decision contract before it is counted. The contract is
``schemas/json/Decision.schema.json`` for every language; in Python the same contract is the
pydantic model it is exported from (``schemas.events.Decision``; a test keeps the two equal),
which the topic's own serializer validates with. A message that breaks it is reported on
stderr with its topic[partition]@offset and left out of the counts.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable

from confluent_kafka import Message

from schemas.serializers import ContractError
from vigil.core.flow import DECISIONS
from vigil.core.settings import load_settings
from vigil.core.topic_window import read_window
from vigil.core.utc import format_utc, parse_utc

HOUR_MS = 3_600_000


def hourly_counts(messages: Iterable[Message]) -> tuple[Counter[tuple[int, str, str]], int]:
    """Decisions per (hour start in epoch ms, client, reason), and how many broke the contract."""
    counts: Counter[tuple[int, str, str]] = Counter()
    invalid = 0
    for msg in messages:
        try:
            decision = DECISIONS.serializer.loads(msg.value())
        except ContractError as exc:
            invalid += 1
            print(f"invalid decision at {msg.topic()}[{msg.partition()}]@{msg.offset()}: "
                  f"{exc}", file=sys.stderr)
            continue
        hour = decision.decided_at - decision.decided_at % HOUR_MS
        counts[(hour, decision.client_id, decision.reason.value)] += 1
    return counts, invalid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--namespace", default="vigil", help="topic prefix (default vigil)")
    parser.add_argument("--from", dest="start", help="ISO 8601 (UTC) or epoch ms")
    parser.add_argument("--to", dest="end", help="ISO 8601 (UTC) or epoch ms")
    args = parser.parse_args(argv)
    settings = load_settings(kafka_bootstrap=args.bootstrap, namespace=args.namespace)
    topic = DECISIONS.name(settings)
    messages = read_window(settings, topic, parse_utc(args.start) if args.start else None,
                           parse_utc(args.end) if args.end else None)
    counts, invalid = hourly_counts(messages)
    print(f"{'hour (UTC)':<17} {'client':<24} {'reason':<15} {'decisions':>9}")
    for (hour, client, reason), count in sorted(counts.items()):
        print(f"{format_utc(hour)[:16]:<17} {client:<24} {reason:<15} {count:>9}")
    print(f"{sum(counts.values())} decisions counted from {topic}, {invalid} invalid "
          "(listed on stderr)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
