"""`vigil audit verify`: the hash chain, then the log against its keyed checkpoints.

The chain (``sinks.audit_log.verify``) catches an edit, insertion, removal or reordering
inside the log; the checkpoints (``sinks.audit_anchor``) catch lines cut from the end and a
chain recomputed after an edit. The verdict names the last checkpoint the log still reaches.
A log with lines but no checkpoint anywhere fails: whoever cut it may have removed the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sinks.audit_anchor import (
    AUDIT_CHECKPOINTS,
    Anchor,
    CheckpointUnavailable,
    checkpoint_file,
    falls_short,
    file_anchor,
    kafka_anchor,
    mac_key,
)
from sinks.audit_log import AuditError, VerifyResult, verify
from vigil.core.settings import Settings


@dataclass(frozen=True)
class AnchoredVerdict:
    """The chain's result, the checkpoints found, and why the log is not intact (if so)."""

    chain: VerifyResult
    anchors: tuple[Anchor, ...]
    last_good: Anchor | None
    problem: str | None
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.problem is None


def _read_anchors(settings: Settings, path: Path, use_kafka: bool
                  ) -> tuple[list[Anchor], list[str], list[str]]:
    """(checkpoints with a good MAC, problems, notes) from the file and, if asked, Kafka."""
    key = mac_key(settings)
    anchors: list[Anchor] = []
    problems: list[str] = []
    notes: list[str] = []
    readers = [lambda: file_anchor(key, path)]
    if use_kafka:
        readers.append(lambda: kafka_anchor(settings, key))
    else:
        notes.append(f"checkpoints on Kafka ({AUDIT_CHECKPOINTS.name(settings)}) not checked")
    for read in readers:
        try:
            anchor = read()
        except CheckpointUnavailable as exc:
            notes.append(f"checkpoints on Kafka not checked: {exc}")
            continue
        except AuditError as exc:
            problems.append(str(exc))
            continue
        if anchor is not None:
            anchors.append(anchor)
    return anchors, problems, notes


def verify_anchored(settings: Settings, path: Path, use_kafka: bool = True) -> AnchoredVerdict:
    """Verify the chain of ``path`` and check it against every checkpoint found."""
    if not path.is_file():
        raise AuditError(f"audit log {path} does not exist")
    anchors, problems, notes = _read_anchors(settings, path, use_kafka)
    chain = verify(path, keep={a.checkpoint.lines for a in anchors})
    if not chain.ok:
        problems.insert(0, f"line {chain.bad_line}: {chain.reason} ({chain.lines} lines "
                           "before it verified)")
    good = []
    for anchor in anchors:
        short = falls_short(anchor, chain.first_hash, chain.lines, chain.hashes)
        if short is None:
            good.append(anchor)
        else:
            problems.append(short)
    if not anchors and chain.lines > 0 and not problems:
        problems.append(f"no checkpoint found (no {checkpoint_file(path)}, none on Kafka "
                        "reached): lines cut from the end would not show. A log written "
                        "before checkpoints existed gets one when the audit sink next runs")
    last_good = max(good, key=lambda a: a.checkpoint.lines, default=None)
    return AnchoredVerdict(chain, tuple(anchors), last_good,
                           "; ".join(problems) if problems else None, tuple(notes))
