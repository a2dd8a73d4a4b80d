"""The user database: clients, token hashes, encrypted enrolled embeddings, state, timestamps.

:class:`UserRepository` is the interface every caller uses. :class:`SqliteUserRepository` is
the one implementation: one SQLite file in the state folder (WAL mode, so the gateway reads
while a command writes). Where several machines share the database, a PostgreSQL
implementation of the same interface serves; none is written yet.

Embeddings are stored as one AES-256-GCM blob per client, bound to the client id, so the file
never holds them as plain floats and a blob moved to another client does not decrypt. The blob
is encrypted under the client's own key (``control.client_keys``; ``embeddings_key`` names
it), so :meth:`SqliteUserRepository.forget` erases it by destroying that key. Blobs written
before per-client keys existed (``embeddings_key`` NULL) are under the data key and still read.
Deleted content is overwritten (``secure_delete``), so a forgotten key leaves no copy in the
file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from control.client_keys import ClientForgottenError, ClientKeys
from control.crypto import decrypt, encrypt, load_key
from schemas.events import now_ms
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

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
_COLUMNS = ("client_id, name, state, state_reason, state_actor, token_hash, embedding_count, "
            "created_at, updated_at, enrolled_at")


class ClientState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    BLOCKED = "blocked"


class UnknownClientError(VigilError, LookupError):
    """The client id is not in the user database."""


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

    def forget(self, client_id: str) -> int: ...

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
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(clients)")}
        if "embeddings_key" not in columns:  # a database from before per-client keys
            self._db.execute("ALTER TABLE clients ADD COLUMN embeddings_key TEXT")
        self.keys = ClientKeys(self._db, self._lock, key)

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
        key = self.keys.live(client_id, revive=True)  # enrolling again is consent again
        blob = encrypt(key.key, array.tobytes(), _embedding_context(client_id, key.key_id))
        now = now_ms()
        with self._lock:
            self._db.execute(
                "UPDATE clients SET embeddings = ?, embedding_count = ?, embeddings_key = ?, "
                "enrolled_at = ?, updated_at = ? WHERE client_id = ?",
                (blob, len(array), key.key_id, now, now, client_id))

    def embeddings(self, client_id: str) -> Embeddings | None:
        """The decrypted embeddings, or None when the client is unknown or not enrolled.

        Raises ClientForgottenError when `vigil clients forget` erased them.
        """
        with self._lock:
            row = self._db.execute("SELECT embeddings, embedding_count, embeddings_key FROM "
                                   "clients WHERE client_id = ?", (client_id,)).fetchone()
        if row is None:
            return None
        blob, count, key_id = row
        if blob is None or not count:
            erased = self.keys.forgotten_at(client_id)
            if erased is not None:
                raise ClientForgottenError(client_id, erased)
            return None
        if key_id is None:
            raw = decrypt(self._key, bytes(blob), _embedding_context(client_id))
        else:
            raw = decrypt(self.keys.by_id(str(key_id)), bytes(blob),
                          _embedding_context(client_id, str(key_id)))
        return np.frombuffer(raw, dtype=np.float32).reshape(int(count), EMBEDDING_DIM).copy()

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

    def forget(self, client_id: str) -> int:
        """Erase the client's biometric data: destroy its key, delete its embeddings.

        Returns the live keys destroyed (0 for a client enrolled before per-client keys: its
        embeddings, under the data key, are deleted and overwritten). Raises
        UnknownClientError. Its evidence files become unreadable with the key.
        """
        self._require(client_id)
        at = now_ms()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                destroyed = self.keys.destroy(client_id, at)
                self._db.execute(
                    "UPDATE clients SET embeddings = NULL, embedding_count = 0, embeddings_key "
                    "= NULL, enrolled_at = NULL, updated_at = ? WHERE client_id = ?",
                    (at, client_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            # The write-ahead log still holds the pages as they were (the wrapped key): copy
            # the new ones into the file and empty the log.
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("forget client_id=%s: another process is reading %s, so its write-ahead "
                        "log keeps the old pages until its next checkpoint", client_id,
                        self.path)
        return destroyed

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _embedding_context(client_id: str, key_id: str | None = None) -> bytes:
    if key_id is None:  # under the data key, before per-client keys
        return f"vigil/embeddings/v1/{client_id}".encode()
    return f"vigil/embeddings/v2/{client_id}/{key_id}".encode()


def open_repository(settings: Settings) -> SqliteUserRepository:
    """The configured user database (SQLite at settings.user_db_path, key from settings)."""
    return SqliteUserRepository(settings.user_db_path, load_key(settings))
