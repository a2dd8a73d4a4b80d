"""Replay for auditors: re-decide past frames under another policy, compare, write nothing.

The face and phone results of a window are read back (``vigil.core.topic_window``: assigned
partitions, nothing committed), joined by frame_id, and fed, client by client in the order
they were first decided, to the stage's own :class:`Decider` holding the other policy, with a
clock that replays each frame's original decision time (escalation windows count in it). The
decisions topic says what was decided then; the report compares the two.

A frame belongs to the window when its first result falls in it; its other half is looked for
up to ``decide_deadline_ms`` either side, as long as the decide stage waited for it. Streaks
and sign-out counts start empty at the window's start, so the first frames of a window may
differ where the original run had a streak going.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from processors.decide.decider import Decider
from processors.decide.policy import Policy
from schemas.events import Decision, FaceResult, PhoneResult
from schemas.serializers import ContractError
from vigil.core.flow import DECISIONS, FACE_RESULTS, PHONE_RESULTS
from vigil.core.settings import Settings
from vigil.core.stage_loop import where
from vigil.core.topic_window import read_window
from vigil.core.utc import format_utc

log = logging.getLogger(__name__)


@dataclass
class _Halves:
    partition: int
    first_ms: int  # Kafka timestamp of the first half read
    face: FaceResult | None = None
    phone: PhoneResult | None = None


@dataclass(frozen=True)
class ReplayedFrame:
    """One frame: what was decided then (None when the topic has no decision) and now."""

    before: Decision | None
    after: Decision


@dataclass
class ReplayReport:
    policy_version: str
    client: str | None
    start_ms: int | None
    end_ms: int | None
    frames: list[ReplayedFrame] = field(default_factory=list)
    original_policies: Counter[str] = field(default_factory=Counter)
    broken: int = 0  # results that broke their contract (logged with where they are)

    def changed(self) -> list[ReplayedFrame]:
        """Frames that had a decision whose action differs from the replayed one."""
        return [f for f in self.frames
                if f.before is not None and f.before.action is not f.after.action]


def _read_halves(settings: Settings, client: str | None, start: int | None,
                 end: int | None, report: ReplayReport) -> dict[str, _Halves]:
    frames: dict[str, _Halves] = {}
    for half, topic in (("face", FACE_RESULTS), ("phone", PHONE_RESULTS)):
        for msg in read_window(settings, topic.name(settings), start, end):
            if client is not None and msg.key() != client.encode():
                continue
            try:
                result = topic.serializer.loads(msg.value())
            except ContractError as exc:
                log.warning("replay: skipped %s: %s", where(msg), exc)
                report.broken += 1
                continue
            ts = msg.timestamp()[1]
            entry = frames.setdefault(result.frame_id, _Halves(int(msg.partition() or 0), ts))
            entry.first_ms = min(entry.first_ms, ts)
            if getattr(entry, half) is None:  # a repeat (at-least-once) changes nothing
                setattr(entry, half, result)
    return frames


def _read_decisions(settings: Settings, client: str | None,
                    start: int | None) -> dict[str, Decision]:
    decided: dict[str, Decision] = {}
    for msg in read_window(settings, DECISIONS.name(settings), start, None):
        if client is not None and msg.key() != client.encode():
            continue
        try:
            decision = DECISIONS.serializer.loads(msg.value())
        except ContractError as exc:
            log.warning("replay: skipped %s: %s", where(msg), exc)
            continue
        decided.setdefault(decision.frame_id, decision)
    return decided


def replay(settings: Settings, policy: Policy, client: str | None, start_ms: int | None,
           end_ms: int | None) -> ReplayReport:
    """Re-decide the window's frames under ``policy``; see the module docstring."""
    report = ReplayReport(policy.version, client, start_ms, end_ms)
    margin = settings.decide.deadline_ms
    halves = _read_halves(settings, client, None if start_ms is None else start_ms - margin,
                          None if end_ms is None else end_ms + margin, report)
    before = _read_decisions(settings, client, start_ms)
    inside = {fid: h for fid, h in halves.items()
              if (start_ms is None or h.first_ms >= start_ms)
              and (end_ms is None or h.first_ms <= end_ms)}

    def when(fid: str) -> tuple[int, int]:
        original = before.get(fid)
        return (original.decided_at if original else inside[fid].first_ms + margin,
                original.seq if original else 0)

    now = [0]
    decider = Decider({}, {}, {}, lambda: policy, deadline_ms=0, clock=lambda: now[0])
    for fid in sorted(inside, key=when):
        entry, now[0] = inside[fid], when(fid)[0]
        outcome = None
        if entry.face is not None:
            outcome = decider.on_result("face", entry.face, entry.partition)
        if entry.phone is not None:
            outcome = decider.on_result("phone", entry.phone, entry.partition) or outcome
        after = outcome.decision if outcome else decider.on_deadline(entry.partition)[0].decision
        report.frames.append(ReplayedFrame(before.get(fid), after))
        if fid in before:
            report.original_policies[before[fid].policy_version] += 1
    return report


def _counts_table(report: ReplayReport, field_name: str) -> list[str]:
    def count(decisions: list[Decision]) -> Counter[str]:
        return Counter(getattr(d, field_name).value for d in decisions)

    old = count([f.before for f in report.frames if f.before is not None])
    new = count([f.after for f in report.frames])
    lines = [f"{field_name:<16} {'before':>7} {'after':>7}"]
    lines += [f"  {key:<14} {old[key]:>7} {new[key]:>7}" for key in sorted(old | new)]
    return lines


def print_report(report: ReplayReport, out: TextIO) -> None:
    """The what-if, for people: counts per reason and action, then every changed frame."""
    who = f"client {report.client}" if report.client else "every client"
    print(f"replay under policy {report.policy_version}: {len(report.frames)} frames of {who}"
          f", from {format_utc(report.start_ms) if report.start_ms else 'the beginning'} to "
          f"{format_utc(report.end_ms) if report.end_ms else 'the end of the topics'}", file=out)
    policies = ", ".join(f"{v} ({n})" for v, n in report.original_policies.most_common())
    print(f"decided at the time under: {policies or 'nothing on the decisions topic'}", file=out)
    for line in _counts_table(report, "reason") + _counts_table(report, "action"):
        print(line, file=out)
    changed = report.changed()
    reason_only = sum(1 for f in report.frames if f.before is not None
                      and f.before.action is f.after.action and f.before.reason is not
                      f.after.reason)
    undecided = sum(1 for f in report.frames if f.before is None)
    print(f"{len(changed)} frames change action, {reason_only} change reason only, "
          f"{undecided} had no decision on the topic, {report.broken} results broke their "
          "contract (skipped)", file=out)
    if changed:
        print("frames whose action changes:", file=out)
    for frame in changed:
        old, new = frame.before, frame.after
        assert old is not None
        print(f"  {format_utc(old.decided_at)}  {old.client_id}  seq {old.seq}  "
              f"{old.frame_id}  {old.action.value} ({old.reason.value}) -> "
              f"{new.action.value} ({new.reason.value})", file=out)
