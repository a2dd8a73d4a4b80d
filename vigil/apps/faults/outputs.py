"""What the sinks kept for a run: one audit line per decision, evidence per non-allow decision.

The run's decisions are read back from the decisions topic (every partition from its start,
nothing committed). The audit sink records each message by topic, partition and offset
(sinks/audit.py): a decision is audited when exactly one line names its place. The evidence
sink keeps one encrypted file per non-allow decision (sinks/evidence_store.py). The sinks may
lag the replies, so the checks wait for them (bounded) before counting.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from schemas.events import Action, Decision
from sinks.audit import audit_log_path
from sinks.evidence_store import EvidenceError, find_evidence
from vigil.apps.faults.client import FrameFate, SteadyClient
from vigil.apps.faults.matrix import CaseCount, CaseWindow, CaughtUp, case_of
from vigil.core.flow import AUDIT_STAGE, DECISIONS, EVIDENCE_STAGE
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings

READ_TIMEOUT_S = 60.0
Place = tuple[int, int]  # partition, offset on the decisions topic


@dataclass(frozen=True)
class Kept:
    """The run's decisions on the topic, and how many audit lines name each place."""

    decisions: dict[Place, Decision]
    audit_lines: Counter[Place]

    def unaudited(self) -> list[Place]:
        return [p for p in self.decisions if self.audit_lines[p] != 1]


def read_decisions(settings: Settings, client_ids: set[str]) -> dict[Place, Decision]:
    """Every decision of these clients on the topic, by place (read to the end now)."""
    topic = DECISIONS.name(settings)
    consumer = make_consumer(
        settings, f"{settings.deployment.namespace}-faults-{uuid.uuid4().hex[:6]}"
    )
    found: dict[Place, Decision] = {}
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}
        assigned = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
        consumer.assign(assigned)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                # Positions, not the last offsets seen: transaction markers take offsets too.
                at = {tp.partition: tp.offset for tp in consumer.position(assigned)}
                if all(end == 0 or at[p] >= end for p, end in ends.items()):
                    break
                continue
            if msg.error() is not None:
                continue
            decision = DECISIONS.serializer.loads(msg.value())
            if decision.client_id in client_ids:
                found[(int(msg.partition() or 0), int(msg.offset() or 0))] = decision
    finally:
        consumer.close()
    return found


def audit_lines(settings: Settings) -> Counter[Place]:
    """How many audit lines name each place of the decisions topic."""
    topic = DECISIONS.name(settings)
    path = audit_log_path(settings)
    counts: Counter[Place] = Counter()
    if not path.exists():
        return counts
    for raw in path.read_bytes().splitlines():
        line = json.loads(raw)
        if line.get("topic") == topic:
            counts[(int(line["partition"]), int(line["offset"]))] += 1
    return counts


def has_evidence(settings: Settings, frame_id: str) -> bool:
    try:
        find_evidence(settings, frame_id)
    except EvidenceError:
        return False
    return True


def evidence_missing(settings: Settings, decisions: dict[Place, Decision]) -> list[Place]:
    return [p for p, d in decisions.items()
            if d.action is not Action.ALLOW and not has_evidence(settings, d.frame_id)]


def kept(settings: Settings, clients: Sequence[SteadyClient], timeout_s: float) -> Kept:
    """The run's decisions and their audit lines, once the sinks caught up (or timed out)."""
    ids = {c.client_id for c in clients}
    deadline = time.monotonic() + timeout_s
    while True:
        decisions = read_decisions(settings, ids)
        found = Kept(decisions, audit_lines(settings))
        settled = not found.unaudited() and not evidence_missing(settings, decisions)
        if settled or time.monotonic() >= deadline:
            return found
        time.sleep(1.0)


def check_outputs(settings: Settings, windows: Sequence[CaseWindow],
                  clients: Sequence[SteadyClient], rows: Sequence[CaseCount],
                  timeout_s: float = READ_TIMEOUT_S) -> Kept:
    """Count, per case, decisions without exactly one audit line and without evidence."""
    found = kept(settings, clients, timeout_s)
    sent = {(c.client_id, f.seq): f.sent_at for c in clients for f in c.fates.values()}
    by_case = {row.case: row for row in rows}

    def row_of(place: Place) -> CaseCount | None:
        decision = found.decisions[place]
        sent_at = sent.get((decision.client_id, decision.seq))
        return None if sent_at is None else by_case[case_of(windows, sent_at)]

    for place in found.unaudited():
        if (row := row_of(place)) is not None:
            row.audit_missing += 1
    for place in evidence_missing(settings, found.decisions):
        if (row := row_of(place)) is not None:
            row.evidence_missing += 1
    return found


def sinks_caught_up(settings: Settings) -> CaughtUp:
    """For the audit and evidence cases: the restarted sink wrote for a frame sent after its
    fault (other cases need nothing more than the decision the client got)."""
    def check(case: str, fresh: list[FrameFate]) -> bool:
        ids = {d["frame_id"] for f in fresh for d in f.decisions}
        if case == AUDIT_STAGE.name:
            return _audited_any(settings, ids)
        if case == EVIDENCE_STAGE.name:
            return any(has_evidence(settings, d["frame_id"]) for f in fresh
                       for d in f.decisions if d.get("action") != Action.ALLOW.value)
        return True

    return check


def _audited_any(settings: Settings, frame_ids: set[str]) -> bool:
    path = audit_log_path(settings)
    if not path.exists() or not frame_ids:
        return False
    return any(json.loads(raw).get("event", {}).get("frame_id") in frame_ids
               for raw in path.read_bytes().splitlines()[-500:])
