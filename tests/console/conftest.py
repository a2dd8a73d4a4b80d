"""A console over a state folder built with the sinks' own code: audit lines and evidence.

No broker: decisions become audit lines through ``sinks.audit.audit_entry`` and the audit
log's append, evidence through ``sinks.evidence_store.write_evidence``, with a test key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from confluent_kafka import Message

from console.accounts import add_account
from console.routes import Console
from console.sessions import LoginLimiter, SessionStore
from console.web import serve
from control.users.db import AuditorRole, SqliteUserRepository
from control.users.repository import open_repository
from schemas.events import Action, Decision, FrameHeaders, FrameRef, Reason
from sinks.audit import audit_entry, audit_log_path
from sinks.audit_anchor import CheckpointWriter
from sinks.audit_keys import load_signing_key
from sinks.audit_log import AuditLog
from sinks.evidence_store import write_evidence
from tests.sinks.conftest import TEST_KEY
from vigil.core.flow import DECISIONS
from vigil.core.settings import Settings, load_settings

HOUR_MS = 3_600_000
T0 = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC; the decisions below are minutes apart
# frame_id -> (client, action, reason, minutes after T0)
DECISIONS_MADE = {
    "f-allow-1": ("alice", Action.ALLOW, Reason.OK, 0),
    "f-phone-2": ("alice", Action.SIGN_OUT, Reason.PHONE, 1),
    "f-spoof-3": ("alice", Action.SIGN_OUT, Reason.SPOOF, 2),
    "f-wrong-4": ("bob", Action.LOCK_SCREEN, Reason.WRONG_USER, 3),
    "f-noface-5": ("bob", Action.LOCK_SCREEN, Reason.NO_FACE, 90),
}


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ConsoleUnderTest:
    settings: Settings
    repo: SqliteUserRepository
    console: Console
    url: str
    auditor: str  # the credential of the auditor "ann"
    operator: str  # the credential of the operator "otto"
    jpegs: dict[str, bytes]
    clock: Clock

    @property
    def audit_log(self) -> Path:
        return audit_log_path(self.settings)


def frame_jpeg(label: str) -> bytes:
    """A 640x480 test picture with its frame id written on it."""
    picture = np.full((480, 640, 3), (60, 90, 120), dtype=np.uint8)
    cv2.putText(picture, label, (40, 240), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    ok, data = cv2.imencode(".jpg", picture)
    assert ok
    return data.tobytes()


def make_decision(frame_id: str, offset: int, policy_version: str = "1@abcdef01") -> Decision:
    client, action, reason, minutes = DECISIONS_MADE[frame_id]
    at = T0 + minutes * 60_000
    return Decision(frame_id=frame_id, client_id=client, session_id="s-1", seq=offset + 1,
                    frame=FrameRef(topic="vigil.frames", partition=0, offset=offset),
                    captured_at=at - 80, received_at=at - 60, decided_at=at, action=action,
                    reason=reason, scores={"liveness": 0.2}, policy_version=policy_version)


def record_decisions(settings: Settings, decisions: list[Decision],
                     jpeg_of: Callable[[Decision], bytes | None] | None = None,
                     first_offset: int = 0) -> dict[str, bytes]:
    """Audit lines and evidence as the sinks make them; returns the JPEG of each frame.
    ``jpeg_of`` gives a decision's frame (None: keep no evidence); by default a picture of
    its frame id."""
    entries, jpegs = [], {}
    picture = jpeg_of or (lambda decision: frame_jpeg(decision.frame_id))
    for offset, decision in enumerate(decisions, start=first_offset):
        msg = Message(topic="vigil.decisions", partition=0, offset=offset,
                      key=decision.client_id.encode(), value=DECISIONS.serializer.dumps(decision),
                      timestamp=(1, decision.decided_at))
        entry = audit_entry(msg, "decision", DECISIONS.serializer)
        entries.append({**entry, "recorded_at": decision.decided_at + 5})
        jpeg = picture(decision) if decision.action is not Action.ALLOW else None
        if jpeg is not None:
            jpegs[decision.frame_id] = jpeg
            headers = FrameHeaders(frame_id=decision.frame_id, client_id=decision.client_id,
                                   session_id=decision.session_id, seq=decision.seq,
                                   captured_at=decision.captured_at,
                                   received_at=decision.received_at)
            write_evidence(settings, decision, headers, jpegs[decision.frame_id])
    log = AuditLog(audit_log_path(settings))
    try:
        log.append(entries)
        # As the audit sink does after a batch: a signed checkpoint (the console checks it).
        CheckpointWriter(settings, log.path, load_signing_key(settings, create=True),
                         None).record(log)
    finally:
        log.close()
    return jpegs


@pytest.fixture
def console_app(tmp_path: Path) -> Iterator[ConsoleUnderTest]:
    settings = load_settings(state_dir=tmp_path / "state", secret_key=TEST_KEY,
                             console_port=0)
    repo = open_repository(settings)
    auditor = add_account(repo, "ann", AuditorRole.AUDITOR)
    operator = add_account(repo, "otto", AuditorRole.OPERATOR)
    decisions = [make_decision(fid, i) for i, fid in enumerate(DECISIONS_MADE)]
    jpegs = record_decisions(settings, decisions)
    clock = Clock()
    console = Console(settings, repo, audit_log_path(settings),
                      SessionStore(settings.console.session_ttl_s, clock), LoginLimiter(clock),
                      use_kafka=False)  # no broker here: the file's checkpoint is checked
    server = serve("127.0.0.1", 0, console.dispatch)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield ConsoleUnderTest(settings, repo, console,
                               f"http://127.0.0.1:{server.server_address[1]}", auditor,
                               operator, jpegs, clock)
    finally:
        server.shutdown()
        thread.join(10)
        console.close()
        repo.close()


def utc_minutes(minutes: int) -> str:
    """T0 plus some minutes, as a datetime-local field holds it (UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((T0 + minutes * 60_000) / 1000))
