"""The user database: clients (token hashes, encrypted enrolled embeddings, state) and the
auditor console's accounts (db_auditors.py), the active models (db_models.py), in control/users/.

:class:`UserRepository` is the interface every caller uses; ``repository.open_repository`` picks the
implementation from the ``user_db`` setting:

- a file path (default ``STATE_DIR/users.sqlite3``): :class:`SqliteUserRepository`, one SQLite
  file (WAL mode, so the gateway reads while a command writes) for one machine;
- a ``postgresql://`` URL: ``control.users.db_postgres.PostgresUserRepository``, one database that
  several machines (gateways, processors, the control commands) share.

Both run the same statements (:class:`SqlUserRepository`, written with ``?`` placeholders) and
the same schema migrations (control/users/db_schema.py) when they open.

Embeddings are stored as one AES-256-GCM blob per client (control/users/crypto.py), bound to the
client id, so the database never holds them as plain floats and a blob moved to another client
does not decrypt. The blob is encrypted under the client's own key (``control.users.client_keys``;
``embeddings_key`` names it), so :meth:`SqlUserRepository.forget` erases it by destroying that
key. Blobs written before per-client keys existed (``embeddings_key`` NULL) are under the data
key and still read. SQLite overwrites deleted content (``secure_delete``) and the forget empties
its write-ahead log, so a forgotten key leaves no copy in the file; PostgreSQL keeps old row
versions until VACUUM reuses them, and its WAL archive and backups hold them longer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np

from control.users.client_keys import ClientForgottenError, ClientKeys, Row
from control.users.crypto import decrypt, encrypt
from control.users.db_auditors import AuditorRecord, AuditorRole, AuditorStatements
from control.users.db_models import ActiveModelStatements
from control.users.db_outbox import OutboxEntry, OutboxStatements, OutboxTarget
from control.users.db_schema import SQLITE, Dialect, apply_migrations
from schemas.events import now_ms
from vigil.core.embeddings import Embeddings
from vigil.core.errors import VigilError
from vigil.core.template import Template, decode_template, encode_template

log = logging.getLogger(__name__)


_COLUMNS = ("client_id, name, state, state_reason, state_actor, token_hash, embedding_count, "
            "created_at, updated_at, enrolled_at")


class ClientState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    BLOCKED = "blocked"


class UnknownClientError(VigilError, LookupError):
    """The client id is not in the user database."""


class UserDatabaseError(VigilError, RuntimeError):
    """The user database cannot be reached or used; the message names it (no password)."""


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

    keys: ClientKeys  # the per-client data keys (the evidence sink's too)

    def get(self, client_id: str) -> ClientRecord | None: ...

    def list_clients(self) -> list[ClientRecord]: ...

    def ensure_client(self, client_id: str, name: str | None = None) -> ClientRecord: ...

    def set_embeddings(self, client_id: str, embeddings: Embeddings,
                       template: Template | None = None) -> None: ...

    def embeddings(self, client_id: str) -> Embeddings | None: ...

    def template(self, client_id: str) -> Template | None: ...

    def set_token_hash(self, client_id: str, token_hash: str | None) -> None: ...

    def set_state(self, client_id: str, state: ClientState, reason: str, actor: str) -> bool: ...

    def add_auditor(self, name: str, role: AuditorRole,
                    credential_hash: str) -> AuditorRecord: ...

    def get_auditor(self, name: str) -> AuditorRecord | None: ...

    def list_auditors(self) -> list[AuditorRecord]: ...

    def remove_auditor(self, name: str) -> bool: ...

    def forget(self, client_id: str) -> int: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def outbox_add(self, client_id: str, event: bytes) -> int: ...

    def outbox_pending(self, limit: int) -> list[OutboxEntry]: ...

    def outbox_done(self, seqs: Sequence[int], target: OutboxTarget) -> None: ...

    def outbox_lease(self, holder: str, ttl_ms: int) -> bool: ...

    def outbox_release(self, holder: str) -> None: ...

    def active_models(self) -> dict[str, str]: ...

    def set_active_model(self, role: str, name: str, actor: str) -> bool: ...

    def close(self) -> None: ...


def _int(value: object) -> int:
    return int(str(value))


def _record(row: Row) -> ClientRecord:
    (client_id, name, state, reason, actor, token_hash, count, created, updated, enrolled) = row
    return ClientRecord(str(client_id), str(name), ClientState(str(state)), str(reason),
                        str(actor), None if token_hash is None else str(token_hash),
                        _int(count), _int(created), _int(updated),
                        None if enrolled is None else _int(enrolled))


class SqlUserRepository(AuditorStatements, OutboxStatements, ActiveModelStatements):
    """The user repository's statements, written once for every SQL engine.

    A subclass supplies :meth:`_execute` (one statement with ``?`` placeholders, returning its
    rows, and the affected row count) and :meth:`_transaction`; both are called under the
    instance's lock, so one repository is safe to share between threads of a process. The
    lock is re-entrant: the calls inside :meth:`transaction` take it again.
    """

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._lock = threading.RLock()
        self._open_transaction = False  # transaction() is under way (on the lock's thread)
        self._after_commit: list[Callable[[], None]] = []
        self.keys = ClientKeys(self._execute, self._lock, key)

    # -- what an engine provides ----------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[object] = ()) -> tuple[list[Row], int]:
        """Run one statement; its rows (empty for writes) and the rows it changed."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """A transaction that no other process's migration runs beside."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    # -- shared ---------------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            return self._execute(sql, params)[0]

    def _write(self, sql: str, params: Sequence[object]) -> int:
        with self._lock:
            return self._execute(sql, params)[1]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The calls inside as one transaction (this thread holds the repository meanwhile);
        a transaction inside joins it. A change and its outbox event are written so."""
        with self._lock:
            if self._open_transaction:
                yield
                return
            with self._transaction():
                self._open_transaction = True
                try:
                    yield
                finally:
                    self._open_transaction = False
            committed, self._after_commit = self._after_commit, []
            for action in committed:
                action()

    def _once_committed(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or after the transaction under way commits (a checkpoint
        cannot run inside one)."""
        if self._open_transaction:
            self._after_commit.append(action)
        else:
            action()

    def _migrate(self, dialect: Dialect, where: str) -> None:
        """Run the schema migrations (control/users/db_schema.py); ``where`` names the database."""
        with self._lock, self._transaction():
            apply_migrations(lambda sql, params: self._execute(sql, params)[0], dialect,
                             now_ms(), where)

    def get(self, client_id: str) -> ClientRecord | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM clients WHERE client_id = ?", (client_id,))
        return _record(rows[0]) if rows else None

    def list_clients(self) -> list[ClientRecord]:
        return [_record(r) for r in self._rows(f"SELECT {_COLUMNS} FROM clients "
                                               "ORDER BY client_id")]

    def ensure_client(self, client_id: str, name: str | None = None) -> ClientRecord:
        now = now_ms()
        self._write("INSERT INTO clients (client_id, name, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO NOTHING",
                    (client_id, name or "", now, now))
        if name is not None:
            self._write("UPDATE clients SET name = ?, updated_at = ? WHERE client_id = ?",
                        (name, now, client_id))
        record = self.get(client_id)
        assert record is not None
        return record

    def _require(self, client_id: str) -> None:
        if self.get(client_id) is None:
            raise UnknownClientError(f"unknown client {client_id!r}")

    def _update(self, client_id: str, sql: str, params: Sequence[object]) -> None:
        """One UPDATE ... WHERE client_id = ? (the last parameter); unknown ids raise."""
        if self._write(sql, params) == 0:
            raise UnknownClientError(f"unknown client {client_id!r}")

    def set_embeddings(self, client_id: str, embeddings: Embeddings,
                       template: Template | None = None) -> None:
        """Replace the client's enrolled template: k x dim float32 embeddings, with the
        threshold and qualities of ``template`` when given (vigil/core/template.py)."""
        array = np.ascontiguousarray(embeddings, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] == 0 or len(array) == 0:
            raise ValueError(f"expected (k, dim) embeddings, got {array.shape}")
        self._require(client_id)
        key = self.keys.live(client_id, revive=True)  # enrolling again is consent again
        whole = Template(array) if template is None else replace(template, embeddings=array)
        blob = encrypt(key.key, encode_template(whole),
                       _embedding_context(client_id, key.key_id))
        now = now_ms()
        self._update(client_id, "UPDATE clients SET embeddings = ?, embedding_count = ?, "
                     "embeddings_key = ?, enrolled_at = ?, updated_at = ? WHERE client_id = ?",
                     (blob, len(array), key.key_id, now, now, client_id))

    def embeddings(self, client_id: str) -> Embeddings | None:
        """The decrypted embeddings, or None when the client is unknown or not enrolled.

        Raises ClientForgottenError when `vigil clients forget` erased them.
        """
        found = self.template(client_id)
        return None if found is None else found.embeddings

    def template(self, client_id: str) -> Template | None:
        """The decrypted template (embeddings, own threshold, qualities), or None as
        :meth:`embeddings`."""
        rows = self._rows("SELECT embeddings, embedding_count, embeddings_key FROM clients "
                          "WHERE client_id = ?", (client_id,))
        if not rows:
            return None
        blob, count, key_id = rows[0]
        if blob is None or not count:
            erased = self.keys.forgotten_at(client_id)
            if erased is not None:
                raise ClientForgottenError(client_id, erased)
            return None
        assert isinstance(blob, bytes | bytearray | memoryview), type(blob)
        if key_id is None:
            raw = decrypt(self.keys.data_key(), bytes(blob), _embedding_context(client_id))
        else:
            raw = decrypt(self.keys.by_id(str(key_id)), bytes(blob),
                          _embedding_context(client_id, str(key_id)))
        return decode_template(raw, _int(count))

    def set_token_hash(self, client_id: str, token_hash: str | None) -> None:
        self._update(client_id, "UPDATE clients SET token_hash = ?, updated_at = ? "
                     "WHERE client_id = ?", (token_hash, now_ms(), client_id))

    def set_state(self, client_id: str, state: ClientState, reason: str, actor: str) -> bool:
        """Set the state; True when it changed (state or reason). One statement, so two
        machines changing the same client agree on which of them changed it."""
        changed = self._write(
            "UPDATE clients SET state = ?, state_reason = ?, state_actor = ?, updated_at = ? "
            "WHERE client_id = ? AND (state <> ? OR state_reason <> ?)",
            (state.value, reason, actor, now_ms(), client_id, state.value, reason))
        if changed:
            return True
        self._require(client_id)
        return False

    def forget(self, client_id: str) -> int:
        """Erase the client's biometric data: destroy its key, delete its embeddings.

        Returns the live keys destroyed (0 for a client enrolled before per-client keys: its
        embeddings, under the data key, are deleted). Raises UnknownClientError. Its evidence
        files become unreadable with the key.
        """
        self._require(client_id)
        at = now_ms()
        with self.transaction():
            destroyed = self.keys.destroy(client_id, at)
            self._execute("UPDATE clients SET embeddings = NULL, embedding_count = 0, "
                          "embeddings_key = NULL, enrolled_at = NULL, updated_at = ? "
                          "WHERE client_id = ?", (at, client_id))
        self._once_committed(lambda: self._after_forget(client_id))
        return destroyed

    def _after_forget(self, client_id: str) -> None:
        """What the engine does to drop old copies of a forgotten client's rows (nothing by
        default: see the module docstring)."""


class SqliteUserRepository(SqlUserRepository):
    """The user database in one SQLite file."""

    def __init__(self, path: Path, key: bytes | None) -> None:
        super().__init__(key)
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Created 0600: it holds token hashes and (encrypted) biometric data.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=10000")
        _enable_wal(self._db, path)
        self._db.execute("PRAGMA secure_delete=ON")  # deleted content is overwritten
        self._migrate(SQLITE, str(path))

    def _execute(self, sql: str, params: Sequence[object] = ()) -> tuple[list[Row], int]:
        cursor = self._db.execute(sql, tuple(params))
        return cursor.fetchall(), cursor.rowcount

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock at once: a second process waits, then sees the rows.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _after_forget(self, client_id: str) -> None:
        # The write-ahead log still holds the pages as they were (the wrapped key): copy the
        # new ones into the file and empty the log.
        with self._lock:
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("forget client_id=%s: another process is reading %s, so its write-ahead "
                        "log keeps the old pages until its next checkpoint", client_id,
                        self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _embedding_context(client_id: str, key_id: str | None = None) -> bytes:
    if key_id is None:  # under the data key, before per-client keys
        return f"vigil/embeddings/v1/{client_id}".encode()
    return f"vigil/embeddings/v2/{client_id}/{key_id}".encode()


def _enable_wal(db: sqlite3.Connection, path: Path, wait_s: float = 10.0) -> None:
    """Switch a database to write-ahead logging. SQLite answers "database is locked" at once,
    without its busy handler, to a connection that switches while another one does (several
    processes starting on a fresh file: seen 4 times in 40 with four threads), so retry."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise UserDatabaseError(f"cannot open the user database {path}: {exc}") from exc
            time.sleep(0.05)

