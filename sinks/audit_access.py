"""``access`` lines: who viewed or exported which evidence, in the audit chain itself.

The console writes one before it shows or exports a frame, and so does ``vigil evidence
show``: an evidence view that left no line would be a view no auditor can account for.
"""

from __future__ import annotations

from pathlib import Path

from schemas.events import Decision, now_ms
from sinks.audit_log import AuditLog


class AccessLog:
    """Adds ``access`` lines to the audit chain (appending beside the audit sink)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._log = AuditLog(path, owner=False)

    def record(self, access: str, by: str, role: str, decision: Decision,
               decision_seq: int | None, remote: str) -> None:
        """Append and fsync one line; raises if it cannot, so nothing is shown unrecorded.
        ``decision_seq``: the decision's line in the log, when the viewer knows it."""
        self._log.append([{"type": "access", "recorded_at": now_ms(), "event": {
            "access": access, "by": by, "role": role, "client_id": decision.client_id,
            "frame_id": decision.frame_id, "decision_seq": decision_seq, "remote": remote}}])

    def close(self) -> None:
        self._log.close()
