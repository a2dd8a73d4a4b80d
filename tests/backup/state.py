"""A small deployment state made without a broker: clients, evidence, an audit log."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from control.users.repository import open_repository
from control.users.tokens import hash_token, new_token
from sinks.audit import audit_log_path
from sinks.audit_log import AuditLog
from sinks.evidence_store import write_evidence
from tests.sinks.conftest import NOW_MS, decision
from vigil.core.settings import Settings

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


def make_state(settings: Settings, clients: int = 2, items: int = 3) -> dict[str, str]:
    """Enrolled clients (token each), evidence items and audit lines; returns the tokens."""
    repo = open_repository(settings)
    tokens = {}
    try:
        for n in range(clients):
            client = f"client-{n}"
            repo.ensure_client(client, f"User {n}")
            vector = np.random.default_rng(n).normal(size=(2, 512)).astype(np.float32)
            repo.set_embeddings(client, vector / np.linalg.norm(vector, axis=1, keepdims=True))
            tokens[client] = new_token()
            repo.set_token_hash(client, hash_token(tokens[client]))
    finally:
        repo.close()
    audit = AuditLog(audit_log_path(settings))
    for n in range(items):
        made = decision(f"frame-{n}", client_id="client-0", decided_at=NOW_MS + n)
        write_evidence(settings, made, None, JPEG, note=None)
        audit.append([{"type": "decision", "topic": "t.decisions", "partition": 0,
                       "offset": n, "event": made.model_dump(mode="json")}])
    audit.close()
    return tokens


def rewrite_member(archive: Path, member: str, change: bytes | None = None,
                   rename: str | None = None) -> None:
    """Rewrite one member of a tar in place: new bytes, or a new name."""
    with tarfile.open(archive) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar  # type: ignore[union-attr]
                   if info.isfile()]
    with tarfile.open(archive, "w") as tar:
        for info, data in members:
            if info.name == member:
                data = change if change is not None else data
                info.name = rename or info.name
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
