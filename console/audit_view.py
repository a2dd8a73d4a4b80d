"""What the console reads from the audit log, and the ``access`` lines it adds to it.

The log is read line by line on each request (no index): a decision is named by its line's
``seq``. Lines that do not parse are counted and reported, never skipped in silence; whether
the chain is intact is ``sinks.audit_log.verify``'s job.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.events import Action, Decision, Reason
from vigil.core.utc import TimeFormatError, parse_utc

MAX_LISTED = 200  # decisions shown on one page, newest first


@dataclass(frozen=True)
class AuditLine:
    """One parsed line: its number, type, fields and the exact bytes written."""

    seq: int
    type: str
    fields: dict[str, Any]
    raw: bytes

    @property
    def event(self) -> dict[str, Any]:
        event = self.fields.get("event")
        return event if isinstance(event, dict) else {}

    @property
    def client_id(self) -> str | None:
        value = self.event.get("client_id", self.fields.get("key"))
        return value if isinstance(value, str) else None

    @property
    def recorded_at(self) -> int:
        value = self.fields.get("recorded_at")
        return value if isinstance(value, int) else 0

    def decision(self) -> Decision:
        """The Decision of a ``decision`` line (validated against the contract)."""
        return Decision.model_validate(self.event)


@dataclass(frozen=True)
class DecisionFilter:
    """What the decisions page was asked for; None matches anything."""

    client_id: str | None = None
    reason: str | None = None
    action: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def matches(self, decision: Decision) -> bool:
        return ((self.client_id is None or decision.client_id == self.client_id)
                and (self.reason is None or decision.reason.value == self.reason)
                and (self.action is None or decision.action.value == self.action)
                and (self.start_ms is None or decision.decided_at >= self.start_ms)
                and (self.end_ms is None or decision.decided_at <= self.end_ms))


def decision_filter(query: dict[str, str]) -> tuple[DecisionFilter | None, str]:
    """The filter a query asks for, or None and what is wrong with it."""
    given = {k: v.strip() for k, v in query.items() if v.strip()}
    if given.get("reason", "ok") not in set(Reason):
        return None, f"unknown reason {given['reason']!r}"
    if given.get("action", "allow") not in set(Action):
        return None, f"unknown action {given['action']!r}"
    try:
        start, end = (parse_utc(given[k]) if k in given else None for k in ("from", "to"))
    except TimeFormatError as exc:
        return None, str(exc)
    return DecisionFilter(given.get("client"), given.get("reason"), given.get("action"),
                          start, end), ""


@dataclass
class Listing:
    """The newest matching decisions (at most MAX_LISTED), how many matched, bad lines."""

    decisions: list[tuple[AuditLine, Decision]] = field(default_factory=list)
    matched: int = 0
    unreadable: list[int] = field(default_factory=list)


def read_lines(path: Path, unreadable: list[int] | None = None) -> Iterator[AuditLine]:
    """Every line of the log that parses; the numbers of the others go to ``unreadable``."""
    if not path.is_file():
        return
    with path.open("rb") as src:
        for number, raw in enumerate(src, start=1):
            try:
                fields = json.loads(raw)
                kind = fields["type"]
            except (ValueError, KeyError, TypeError):
                if unreadable is not None:
                    unreadable.append(number)
                continue
            yield AuditLine(number, str(kind), fields, raw)


def list_decisions(path: Path, wanted: DecisionFilter) -> Listing:
    """The decisions matching ``wanted``, newest first."""
    listing = Listing()
    newest: deque[tuple[AuditLine, Decision]] = deque(maxlen=MAX_LISTED)
    for line in read_lines(path, listing.unreadable):
        if line.type != "decision":
            continue
        try:
            decision = line.decision()
        except ValidationError:  # shown on the page as an unreadable line
            listing.unreadable.append(line.seq)
            continue
        if wanted.matches(decision):
            listing.matched += 1
            newest.append((line, decision))
    listing.decisions = list(reversed(newest))
    return listing


def decision_line(path: Path, seq: int) -> tuple[AuditLine, Decision] | None:
    """The decision recorded on line ``seq``, or None when that line is not a decision."""
    for line in read_lines(path):
        if line.seq == seq:
            return (line, line.decision()) if line.type == "decision" else None
    return None


def accesses(path: Path, frame_id: str) -> list[AuditLine]:
    """The ``access`` lines about one frame's evidence, oldest first."""
    return [line for line in read_lines(path)
            if line.type == "access" and line.event.get("frame_id") == frame_id]


def case_lines(path: Path, decision: Decision, start_ms: int, end_ms: int) -> list[AuditLine]:
    """The lines of a case: the client's lines recorded between two times (inclusive), and
    every ``access`` line about the decision's evidence, whenever it was."""
    return [line for line in read_lines(path)
            if (line.client_id == decision.client_id and start_ms <= line.recorded_at <= end_ms)
            or (line.type == "access" and line.event.get("frame_id") == decision.frame_id)]
