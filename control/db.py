"""The user database: clients (token hashes, encrypted enrolled embeddings, state) and the
auditor console's accounts (``auditors``: name, role, credential hash).

:class:`UserRepository` is the interface every caller uses. :class:`SqliteUserRepository` is
the one implementation: one SQLite file in the state folder (WAL mode, so the gateway reads
while a command writes). Where several machines share the database, a PostgreSQL
implementation of the same interface serves; none is written yet.

Embeddings are stored as one AES-256-GCM blob per client (control/crypto.py), bound to the
client id, so the file never holds them as plain floats and a blob moved to another client
does not decrypt.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from control.crypto import decrypt, encrypt, load_key
from schemas.events import now_ms
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

Embeddings = npt.NDArray[np.float32]
EMBEDDING_DIM = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'active',
    state_reason TEXT NOT NULL DEFAULT '',
    state_actor TEXT NOT NULL DEFAULT '',
    token_hash TEXT,
    embeddings BLOB,
    embedding_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    enrolled_at INTEGER
)
"""
_AUDITORS_SCHEMA = """
CREATE TABLE IF NOT EXISTS auditors (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    credential_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
)
"""
_COLUMNS = ("client_id, name, state, state_reason, state_actor, token_hash, embedding_count, "
            "created_at, updated_at, enrolled_at")


class ClientState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    BLOCKED = "blocked"


class UnknownClientError(VigilError, LookupError):
    """The client id is not in the user database."""


class AuditorRole(StrEnum):
    """What a console account may do: auditors read decisions and evidence; operators act
    on clients and see the accounts. Neither reaches the other's pages."""

    AUDITOR = "auditor"
    OPERATOR = "operator"


class AuditorExistsError(VigilError, ValueError):
    """A console account of that name exists already."""


@dataclass(frozen=True)
class AuditorRecord:
    """One console account as stored (the credential only as its salted scrypt hash)."""

    name: str
    role: AuditorRole
    credential_hash: str
    created_at: int


@dataclass(frozen=True)
class ClientRecord:
    """One client as stored (never the token itself, nor the embeddings)."""

    client_id: str
    name: str
    state: ClientState
    state_reason: str
    state_actor: str
    token_hash: str | None
    embedding_count: int
    created_at: int
    updated_at: int
    enrolled_at: int | None

    @property
    def enrolled(self) -> bool:
        return self.embedding_count > 0


class UserRepository(Protocol):
    """What the control plane and the gateway need from the user database."""

    def get(self, client_id: str) -> ClientRecord | None: ...

    def list_clients(self) -> list[ClientRecord]: ...

    def ensure_client(self, client_id: str, name: str | None = None) -> ClientRecord: ...

    def set_embeddings(self, client_id: str, embeddings: Embeddings) -> None: ...

    def embeddings(self, client_id: str) -> Embeddings | None: ...

    def set_token_hash(self, client_id: str, token_hash: str | None) -> None: ...

    def set_state(self, client_id: str, state: ClientState, reason: str, actor: str) -> bool: ...

    def add_auditor(self, name: str, role: AuditorRole,
                    credential_hash: str) -> AuditorRecord: ...

    def get_auditor(self, name: str) -> AuditorRecord | None: ...

    def list_auditors(self) -> list[AuditorRecord]: ...

    def remove_auditor(self, name: str) -> bool: ...

    def close(self) -> None: ...


class SqliteUserRepository:
    """The user database in one SQLite file; safe to share between threads of a process."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Created 0600: it holds token hashes and (encrypted) biometric data.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(_SCHEMA)
        self._db.execute(_AUDITORS_SCHEMA)

    def _row(self, row: tuple[object, ...] | None) -> ClientRecord | None:
        if row is None:
            return None
        (client_id, name, state, reason, actor, token_hash, count, created, updated,
         enrolled) = row
        return ClientRecord(str(client_id), str(name), ClientState(str(state)), str(reason),
                            str(actor), None if token_hash is None else str(token_hash),
                            int(count), int(created), int(updated),  # type: ignore[call-overload]
                            None if enrolled is None else int(enrolled))  # type: ignore[call-overload]

    def get(self, client_id: str) -> ClientRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM clients WHERE client_id = ?",
                                   (client_id,)).fetchone()
        return self._row(row)

    def list_clients(self) -> list[ClientRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM clients ORDER BY client_id")
            records = [self._row(r) for r in rows.fetchall()]
        return [r for r in records if r is not None]

    def ensure_client(self, client_id: str, name: str | None = None) -> ClientRecord:
        now = now_ms()
        with self._lock:
            self._db.execute(
                "INSERT INTO clients (client_id, name, created_at, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT(client_id) DO NOTHING", (client_id, name or "", now, now))
            if name is not None:
                self._db.execute("UPDATE clients SET name = ?, updated_at = ? "
                                 "WHERE client_id = ?", (name, now, client_id))
        record = self.get(client_id)
        assert record is not None
        return record

    def _require(self, client_id: str) -> None:
        if self.get(client_id) is None:
            raise UnknownClientError(f"unknown client {client_id!r}")

    def set_embeddings(self, client_id: str, embeddings: Embeddings) -> None:
        """Replace the client's enrolled embeddings (k x 512 float32)."""
        array = np.ascontiguousarray(embeddings, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != EMBEDDING_DIM or len(array) == 0:
            raise ValueError(f"expected (k, {EMBEDDING_DIM}) embeddings, got {array.shape}")
        self._require(client_id)
        blob = encrypt(self._key, array.tobytes(), _embedding_context(client_id))
        now = now_ms()
        with self._lock:
            self._db.execute(
                "UPDATE clients SET embeddings = ?, embedding_count = ?, enrolled_at = ?, "
                "updated_at = ? WHERE client_id = ?", (blob, len(array), now, now, client_id))

    def embeddings(self, client_id: str) -> Embeddings | None:
        """The decrypted embeddings, or None when the client is unknown or not enrolled."""
        with self._lock:
            row = self._db.execute("SELECT embeddings, embedding_count FROM clients "
                                   "WHERE client_id = ?", (client_id,)).fetchone()
        if row is None or row[0] is None or not row[1]:
            return None
        raw = decrypt(self._key, bytes(row[0]), _embedding_context(client_id))
        return np.frombuffer(raw, dtype=np.float32).reshape(int(row[1]), EMBEDDING_DIM).copy()

    def set_token_hash(self, client_id: str, token_hash: str | None) -> None:
        self._require(client_id)
        with self._lock:
            self._db.execute("UPDATE clients SET token_hash = ?, updated_at = ? "
                             "WHERE client_id = ?", (token_hash, now_ms(), client_id))

    def set_state(self, client_id: str, state: ClientState, reason: str, actor: str) -> bool:
        """Set the state; True when it changed (state or reason)."""
        record = self.get(client_id)
        if record is None:
            raise UnknownClientError(f"unknown client {client_id!r}")
        if record.state == state and record.state_reason == reason:
            return False
        with self._lock:
            self._db.execute(
                "UPDATE clients SET state = ?, state_reason = ?, state_actor = ?, "
                "updated_at = ? WHERE client_id = ?",
                (state.value, reason, actor, now_ms(), client_id))
        return True

    def add_auditor(self, name: str, role: AuditorRole, credential_hash: str) -> AuditorRecord:
        """Store a new console account; AuditorExistsError when the name is taken."""
        record = AuditorRecord(name, role, credential_hash, now_ms())
        try:
            with self._lock:
                self._db.execute("INSERT INTO auditors (name, role, credential_hash, "
                                 "created_at) VALUES (?,?,?,?)",
                                 (name, role.value, credential_hash, record.created_at))
        except sqlite3.IntegrityError:
            raise AuditorExistsError(f"console account {name!r} exists already") from None
        return record

    def get_auditor(self, name: str) -> AuditorRecord | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, credential_hash, created_at "
                                   "FROM auditors WHERE name = ?", (name,)).fetchone()
        return None if row is None else _auditor(row)

    def list_auditors(self) -> list[AuditorRecord]:
        with self._lock:
            rows = self._db.execute("SELECT name, role, credential_hash, created_at "
                                    "FROM auditors ORDER BY name").fetchall()
        return [_auditor(row) for row in rows]

    def remove_auditor(self, name: str) -> bool:
        """Delete a console account; True when it existed."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM auditors WHERE name = ?", (name,))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _auditor(row: tuple[object, ...]) -> AuditorRecord:
    name, role, credential_hash, created_at = row
    return AuditorRecord(str(name), AuditorRole(str(role)), str(credential_hash),
                         int(created_at))  # type: ignore[call-overload]


def _embedding_context(client_id: str) -> bytes:
    return f"vigil/embeddings/v1/{client_id}".encode()


def open_repository(settings: Settings) -> SqliteUserRepository:
    """The configured user database (SQLite at settings.user_db_path, key from settings)."""
    return SqliteUserRepository(settings.user_db_path, load_key(settings))
