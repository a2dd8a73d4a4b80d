"""Keys, encryption at rest, tokens and the SQLite user database (no broker needed)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import numpy as np
import pytest

from control.crypto import CryptoError, decrypt, encrypt, key_file, load_key
from control.db import ClientState, SqliteUserRepository, UnknownClientError
from control.tokens import hash_token, new_token, token_matches
from vigil.core.settings import load_settings


def test_key_file_is_created_0600_once_and_reused(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    key = load_key(settings)
    assert len(key) == 32
    assert stat.S_IMODE(key_file(settings).stat().st_mode) == 0o600
    assert load_key(settings) == key
    key_file(settings).chmod(0o644)
    with pytest.raises(CryptoError, match="readable by others"):
        load_key(settings)


def test_secret_key_setting_wins_and_is_checked(tmp_path: Path) -> None:
    key = bytes(range(32))
    settings = load_settings(state_dir=tmp_path, secret_key=base64.b64encode(key).decode())
    assert load_key(settings) == key
    assert not key_file(settings).exists()
    with pytest.raises(CryptoError, match="32 bytes"):
        load_key(load_settings(state_dir=tmp_path, secret_key=base64.b64encode(b"x").decode()))


def test_encryption_is_bound_to_key_and_context() -> None:
    key, other = bytes(32), bytes(range(32))
    blob = encrypt(key, b"frame bytes", b"client-a")
    assert b"frame bytes" not in blob
    assert decrypt(key, blob, b"client-a") == b"frame bytes"
    for wrong_key, context in [(other, b"client-a"), (key, b"client-b")]:
        with pytest.raises(CryptoError):
            decrypt(wrong_key, blob, context)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CryptoError):
        decrypt(key, tampered, b"client-a")


def test_tokens_are_stored_as_hashes_and_compared() -> None:
    token = new_token()
    stored = hash_token(token)
    assert token not in stored and len(token) >= 40
    assert token_matches(token, stored)
    assert not token_matches(token + "x", stored)
    assert not token_matches(token, None)


def test_embeddings_are_not_in_the_file_as_plain_floats(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite3"
    repo = SqliteUserRepository(db, bytes(range(32)))
    vector = np.random.default_rng(7).normal(size=(2, 512)).astype(np.float32)
    vector /= np.linalg.norm(vector, axis=1, keepdims=True)
    repo.ensure_client("alice", "Alice")
    repo.set_embeddings("alice", vector)
    stored = repo.embeddings("alice")
    assert stored is not None and np.array_equal(stored, vector)
    repo.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # db, WAL and shm files
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    # Neither the whole array nor any single float of it appears in the bytes on disk.
    assert vector.tobytes() not in raw
    assert not any(value.tobytes() in raw for value in vector.reshape(-1)[:64])
    with pytest.raises(CryptoError):  # another key cannot read them
        SqliteUserRepository(db, bytes(32)).embeddings("alice")


def test_state_changes_and_reenrollment_replace(tmp_path: Path) -> None:
    repo = SqliteUserRepository(tmp_path / "u.db", bytes(32))
    with pytest.raises(UnknownClientError):
        repo.set_state("ghost", ClientState.BLOCKED, "", "cli")
    repo.ensure_client("bob")
    assert repo.set_state("bob", ClientState.PAUSED, "lunch", "cli")
    assert not repo.set_state("bob", ClientState.PAUSED, "lunch", "cli")  # unchanged
    repo.set_embeddings("bob", np.ones((3, 512), np.float32))
    repo.set_embeddings("bob", np.ones((1, 512), np.float32))
    record = repo.get("bob")
    assert record is not None
    assert (record.state, record.state_reason, record.embedding_count) == (
        ClientState.PAUSED, "lunch", 1)
    repo.close()
