"""Dead letters: a message that cannot be handled goes to ``frames.dlq`` as it was received.

One place builds the headers (the original headers, then ``error``, ``stage`` and ``source``
= topic[partition]@offset) and counts and logs the dead letter, for the confluent-kafka stage
loop and the Faust decide app alike. Operators read the DLQ with any Kafka tool.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from vigil.core import metrics

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None


def dead_letter_headers(original: Headers, error: str, stage: str, source: str
                        ) -> list[tuple[str, str | bytes | None]]:
    """The DLQ headers: the message's own, then why, where and by whom it was refused."""
    pairs = list(original.items()) if isinstance(original, Mapping) else list(original or [])
    return [*pairs, ("error", error.encode()), ("stage", stage.encode()),
            ("source", source.encode())]


def record_dead_letter(stage: str, source: str, error: str) -> None:
    """Count and log one dead letter (the caller has produced it)."""
    metrics.DEAD_LETTERS.labels(stage).inc()
    log.warning("dead-lettered %s stage=%s error=%s", source, stage, error)
