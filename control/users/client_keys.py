"""Per-client data keys, so one person's biometric data can be erased by destroying a key.

Each client's enrolled embeddings and evidence frames are encrypted under that client's own
32-byte key (AES-256-GCM), and the key is stored in the user database wrapped (encrypted)
under the deployment's data key (``control.users.crypto``), bound to its key id and client id.
`vigil clients forget` destroys the wrapped key (crypto-shredding): every copy of that client's
ciphertext, in the evidence folder and in backups of it, is unreadable from then on. Backups
of the user database taken before the forget still hold the wrapped key; they must be
expired too.

The ``client_keys`` table is migration 3 of the user database (control/users/db_schema.py), on
either engine. A client has at most one live key. A forgotten client keeps its destroyed rows
(so readers can say when it was erased) and gets a new key only when it is enrolled again.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from control.users.crypto import KEY_BYTES, CryptoError, decrypt, encrypt
from schemas.events import now_ms
from vigil.core.errors import VigilError

Row = tuple[object, ...]
# One statement with ``?`` placeholders: its rows and the rows it changed (the repository's).
Execute = Callable[[str, Sequence[object]], tuple[list[Row], int]]


class ClientForgottenError(VigilError, LookupError):
    """The client's biometric data was erased: its key was destroyed by `vigil clients forget`."""

    def __init__(self, client_id: str, destroyed_at: int) -> None:
        when = dt.datetime.fromtimestamp(destroyed_at / 1000, tz=dt.UTC)
        super().__init__(f"the biometric data of client {client_id!r} was erased by `vigil "
                         f"clients forget` at {when:%Y-%m-%d %H:%M:%S} UTC: its key is "
                         "destroyed")
        self.client_id = client_id
        self.destroyed_at = destroyed_at


@dataclass(frozen=True)
class ClientKey:
    """A client's live key, unwrapped."""

    key_id: str
    key: bytes


def _wrap_context(key_id: str, client_id: str) -> bytes:
    return f"vigil/client-key/v1/{key_id}/{client_id}".encode()


class ClientKeys:
    """The client_keys table of one user database (its repository's statements and lock)."""

    def __init__(self, execute: Execute, lock: threading.RLock, data_key: bytes | None) -> None:
        self._execute, self._lock, self._key = execute, lock, data_key

    @property
    def _data_key(self) -> bytes:
        return self.data_key()

    def data_key(self) -> bytes:
        """The deployment's data key; CryptoError when this process opened without it."""
        if self._key is None:
            raise CryptoError("this process opened the user database without the data key "
                              "(gateways need token hashes only): it cannot read or write "
                              "biometric data")
        return self._key

    def _rows(self, sql: str, params: Sequence[object]) -> list[Row]:
        with self._lock:
            return self._execute(sql, params)[0]

    def live(self, client_id: str, revive: bool) -> ClientKey:
        """The client's live key, created when it has none.

        A forgotten client gets a new key only with ``revive`` (enrolling it again); else
        ClientForgottenError, so nothing new is kept for a person who asked to be erased.
        """
        key = self._live(client_id)
        if key is not None:
            return key
        erased = self.forgotten_at(client_id)
        if erased is not None and not revive:
            raise ClientForgottenError(client_id, erased)
        key_id = uuid.uuid4().hex
        wrapped = encrypt(self._data_key, os.urandom(KEY_BYTES), _wrap_context(key_id, client_id))
        self._rows("INSERT INTO client_keys (key_id, client_id, wrapped, created_at) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   (key_id, client_id, wrapped, now_ms()))
        key = self._live(client_id)  # ours, or the one a racing process inserted first
        assert key is not None
        return key

    def _live(self, client_id: str) -> ClientKey | None:
        rows = self._rows("SELECT key_id, wrapped FROM client_keys WHERE client_id = ? "
                          "AND wrapped IS NOT NULL", (client_id,))
        if not rows:
            return None
        key_id, wrapped = str(rows[0][0]), rows[0][1]
        return ClientKey(key_id, decrypt(self._data_key, _bytes(wrapped),
                                         _wrap_context(key_id, client_id)))

    def by_id(self, key_id: str) -> bytes:
        """The key ``key_id``; ClientForgottenError once it is destroyed, LookupError when the
        database never had it. Callers bind their ciphertext to the client id themselves."""
        rows = self._rows("SELECT client_id, wrapped, destroyed_at FROM client_keys "
                          "WHERE key_id = ?", (key_id,))
        if not rows:
            raise LookupError(f"key {key_id!r} is not in the user database")
        client_id, wrapped, destroyed_at = str(rows[0][0]), rows[0][1], rows[0][2]
        if wrapped is None:
            raise ClientForgottenError(client_id, int(str(destroyed_at)))
        return decrypt(self._data_key, _bytes(wrapped), _wrap_context(key_id, client_id))

    def forgotten_at(self, client_id: str) -> int | None:
        """When the client was forgotten, or None when it has a live key or never had one."""
        rows = self._rows("SELECT MAX(destroyed_at), COUNT(wrapped) FROM client_keys "
                          "WHERE client_id = ?", (client_id,))
        if not rows or rows[0][0] is None or int(str(rows[0][1])):
            return None
        return int(str(rows[0][0]))

    def destroy(self, client_id: str, at: int) -> int:
        """Destroy the client's live key; keys destroyed. Runs inside the caller's transaction,
        which holds the lock.

        A client that never had a key gets a destroyed one as its tombstone, so readers and
        the evidence sink know it was forgotten.
        """
        changed = self._execute("UPDATE client_keys SET wrapped = NULL, destroyed_at = ? "
                                "WHERE client_id = ? AND wrapped IS NOT NULL", (at, client_id))[1]
        if changed == 0:
            self._execute("INSERT INTO client_keys (key_id, client_id, wrapped, created_at, "
                          "destroyed_at) VALUES (?, ?, NULL, ?, ?)",
                          (uuid.uuid4().hex, client_id, at, at))
        return changed


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes | bytearray | memoryview), type(value)
    return bytes(value)
