"""Erasure that survives a restore: the clients forgotten after a backup was taken.

A backup made before ``vigil clients forget`` holds the person's key and embeddings; placing
it brings them back. So after placing, a restore reads every ``forgotten`` control event newer
than the backup — from the ``control`` topic (kept 400 days for auditors) and from the audit
log it moved aside with ``--force`` — and forgets those clients again, key and evidence
included, without announcing it anew (the original event is still in the topic and the log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from console.audit_view import read_lines
from control.users.db import UnknownClientError
from control.users.repository import open_repository
from schemas.events import ControlKind
from schemas.serializers import ContractError
from sinks.evidence_store import forget_evidence
from vigil.core.flow import CONTROL
from vigil.core.settings import Settings
from vigil.core.topic_window import TopicWindowError, read_window

log = logging.getLogger(__name__)

CONTROL_STALL_S = 15.0  # a control topic that sends nothing this long is reported unreadable


@dataclass
class Erasures:
    """client_id -> when it was forgotten (epoch ms), and where that was learned from."""

    forgotten: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, client_id: str, at: int) -> None:
        self.forgotten[client_id] = max(at, self.forgotten.get(client_id, 0))


def from_audit_log(path: Path, since_ms: int, found: Erasures) -> None:
    """``forgotten`` control lines of an audit log, newer than ``since_ms``."""
    if not path.is_file():
        return
    count = 0
    for line in read_lines(path):
        event = line.event
        if line.type == "control" and event.get("kind") == ControlKind.FORGOTTEN.value \
                and int(event.get("at", 0)) > since_ms and event.get("client_id"):
            found.add(str(event["client_id"]), int(event["at"]))
            count += 1
    found.sources.append(f"audit log {path} ({count} forgotten since the backup)")


def from_control_topic(settings: Settings, since_ms: int, found: Erasures,
                       stall_s: float = CONTROL_STALL_S) -> None:
    """``forgotten`` events on the control topic written since ``since_ms``."""
    topic = CONTROL.name(settings)
    count = 0
    try:
        for msg in read_window(settings, topic, start_ms=since_ms, stall_s=stall_s):
            try:
                event = CONTROL.serializer.loads(msg.value())
            except ContractError:
                continue  # the audit log records invalid records; nothing to erase here
            if event.kind is ControlKind.FORGOTTEN and event.at > since_ms:
                found.add(event.client_id, event.at)
                count += 1
    except TopicWindowError as exc:
        found.problems.append(f"the control topic {topic} could not be read ({exc}): clients "
                              "forgotten after the backup that only it records may be back; "
                              "run the restore again once Kafka answers")
        return
    found.sources.append(f"control topic {topic} ({count} forgotten since the backup)")


def reapply(settings: Settings, found: Erasures) -> list[str]:
    """Forget each client again (key, embeddings, old evidence); one line each."""
    lines = []
    repo = open_repository(settings)
    try:
        for client_id, at in sorted(found.forgotten.items()):
            try:
                destroyed = repo.forget(client_id)
            except UnknownClientError:
                lines.append(f"{client_id}: forgotten at {at}, not in the restored database")
                continue
            deleted, unreadable = forget_evidence(settings, client_id)
            log.info("restore re-applied erasure client_id=%s keys=%d evidence_deleted=%d",
                     client_id, destroyed, deleted)
            lines.append(f"{client_id}: forgotten at {at}: erased again ({destroyed} key(s) "
                         f"destroyed, {deleted} old evidence file(s) deleted, {unreadable} "
                         "left unreadable)")
    finally:
        repo.close()
    return lines
