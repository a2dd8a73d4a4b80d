"""`vigil audit verify` and `vigil audit reanchor`.

Verify: the chain (``sinks.audit_log.verify``) catches an edit, insertion, removal or
reordering inside the log; the checkpoints (``sinks.audit_anchor``) catch lines cut from the
end and a chain recomputed after an edit. The verdict names the last checkpoint the log still
reaches. A log with lines but no checkpoint anywhere fails: whoever cut it may have removed
the file.

With Kafka, the log is also checked against the audit group's committed offsets
(``sinks.audit_offsets``), which catch a cut even when old checkpoints were put back.

Reanchor: a log restored from a backup is shorter than its last checkpoint, and the audit
sink refuses to continue it. Reanchoring accepts the log as it is, with the audit signing key
(so only where the audit sink runs): it appends a ``reanchored`` line recording the checkpoint
the log no longer reaches and the commits it lacks (so the cut stays visible to auditors,
inside the chain) and checkpoints the log anew. It refuses a log whose chain is broken: a
shorter log is accepted, an edited one never.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException

from schemas.events import AuditCheckpoint, now_ms
from sinks.audit_anchor import (
    Anchor,
    CheckpointUnavailable,
    CheckpointWriter,
    checkpoint_file,
    falls_short,
    file_anchor,
    kafka_anchor,
)
from sinks.audit_keys import load_signing_key, load_verify_key
from sinks.audit_log import AuditError, AuditLog, VerifyResult, verify
from sinks.audit_offsets import CommitsUnavailable, committed_offsets, cut_below_commits
from vigil.core.flow import AUDIT_CHECKPOINTS
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings
from vigil.core.topics import create_topics


@dataclass(frozen=True)
class AnchoredVerdict:
    """The chain's result, the checkpoints found, and why the log is not intact (if so)."""

    chain: VerifyResult
    anchors: tuple[Anchor, ...]
    last_good: Anchor | None
    problem: str | None
    notes: tuple[str, ...]
    kafka_checked: bool

    @property
    def ok(self) -> bool:
        return self.problem is None


def _read_anchors(settings: Settings, path: Path, use_kafka: bool
                  ) -> tuple[list[Anchor], list[str], list[str], bool]:
    """(checkpoints with a good signature, problems, notes, whether Kafka answered) from the
    file and, if asked, Kafka (the freshest checkpoint of the topic)."""
    key = load_verify_key(settings)
    anchors: list[Anchor] = []
    problems: list[str] = []
    notes: list[str] = []
    try:
        found = file_anchor(key, path)
        if found is not None:
            anchors.append(found)
    except AuditError as exc:
        problems.append(str(exc))
    if not use_kafka:
        notes.append(f"checkpoints on Kafka ({AUDIT_CHECKPOINTS.name(settings)}) and the "
                     "audit group's committed offsets not checked")
        return anchors, problems, notes, False
    try:
        kafka, stale = kafka_anchor(settings, key)
    except CheckpointUnavailable as exc:
        notes.append(f"checkpoints on Kafka not checked: {exc}")
        return anchors, problems, notes, False
    problems.extend(stale)
    if kafka is not None:
        anchors.append(kafka)
    return anchors, problems, notes, True


def _commit_problems(settings: Settings, path: Path) -> tuple[list[str], list[str]]:
    """(problems, notes) of the log against the audit group's committed offsets."""
    try:
        audit_log = AuditLog(path, owner=False)
    except AuditError as exc:  # the chain check names the unreadable line
        return [], [f"committed offsets not checked: {exc}"]
    try:
        problem = cut_below_commits(settings, audit_log)
    except CommitsUnavailable as exc:
        return [], [f"committed offsets not checked: {exc}"]
    finally:
        audit_log.close()
    return ([problem] if problem else []), []


def verify_anchored(settings: Settings, path: Path, use_kafka: bool = True) -> AnchoredVerdict:
    """Verify the chain of ``path`` and check it against every checkpoint found."""
    if not path.is_file():
        raise AuditError(f"audit log {path} does not exist")
    anchors, problems, notes, kafka_checked = _read_anchors(settings, path, use_kafka)
    if kafka_checked:
        cut, more_notes = _commit_problems(settings, path)
        problems.extend(cut)
        notes.extend(more_notes)
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
                           "; ".join(problems) if problems else None, tuple(notes),
                           kafka_checked)


def reanchor(settings: Settings, path: Path, reason: str,
             use_kafka: bool = True) -> tuple[AuditCheckpoint, Anchor | None]:
    """Accept the log as it is now (see the module docstring); returns the new checkpoint
    and the one it replaced. Raises AuditError for a broken chain or an undelivered
    checkpoint, and CheckpointUnavailable, changing nothing, when Kafka does not answer."""
    # Made here when absent (with its public half): a restore onto a new machine reanchors
    # where the audit sink will run.
    signer = load_signing_key(settings, create=True)
    verdict = verify_anchored(settings, path, use_kafka)
    if not verdict.chain.ok:
        raise AuditError(f"audit log {path} is broken at line {verdict.chain.bad_line} "
                         f"({verdict.chain.reason}): a reanchor accepts a shorter log, never "
                         "an edited one")
    if use_kafka and not verdict.kafka_checked:
        raise CheckpointUnavailable(f"Kafka at {settings.kafka.bootstrap} did not answer, so "
                                    "its checkpoint was not read; nothing changed")
    previous = max(verdict.anchors, key=lambda a: a.checkpoint.lines, default=None)
    if use_kafka:
        try:
            create_topics(settings, [AUDIT_CHECKPOINTS])
        except (KafkaException, TimeoutError) as exc:
            raise CheckpointUnavailable(f"cannot create {AUDIT_CHECKPOINTS.name(settings)}: "
                                        f"{exc}; nothing changed") from None
    producer = (
        make_producer(settings, **{"client.id": f"{settings.deployment.namespace}-audit-reanchor"})
        if use_kafka
        else None
    )
    sequence = max((a.checkpoint.sequence for a in verdict.anchors), default=0)
    writer = CheckpointWriter(settings, path, signer, producer, sequence)
    committed = _committed_or_none(settings) if use_kafka else None
    audit_log = AuditLog(path, owner=False)
    try:
        was = None if previous is None else {
            **previous.checkpoint.model_dump(mode="json", exclude={"signature"}),
            "source": previous.source}
        accepted = None if committed is None else {
            topic: {str(p): o for p, o in parts.items()} for topic, parts in committed.items()}
        audit_log.append([{"type": "reanchored", "recorded_at": now_ms(), "event": {
            "reason": reason, "lines_before": audit_log.lines, "previous_checkpoint": was,
            "problem": verdict.problem, "committed": accepted}}])
        checkpoint = writer.record(audit_log)
    finally:
        audit_log.close()
    if not writer.close():
        raise AuditError(f"the new checkpoint is in {checkpoint_file(path)} but did not reach "
                         f"Kafka ({AUDIT_CHECKPOINTS.name(settings)}); run again when it answers")
    assert checkpoint is not None  # the log just grew by a line
    return checkpoint, previous


def _committed_or_none(settings: Settings) -> dict[str, dict[int, int]] | None:
    try:
        return committed_offsets(settings)
    except CommitsUnavailable:
        return None
