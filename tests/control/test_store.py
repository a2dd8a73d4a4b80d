"""Keys, encryption at rest, tokens and the user database on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import sqlite3
import stat
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import psycopg
import pytest

from control.users.crypto import CryptoError, decrypt, encrypt, key_file, load_key
from control.users.db import ClientState, UnknownClientError, UserDatabaseError, UserRepository
from control.users.db_auditors import AuditorExistsError, AuditorRole
from control.users.db_schema import LATEST_VERSION, MIGRATIONS, POSTGRESQL, SQLITE, SchemaError
from control.users.repository import open_repository
from control.users.tokens import hash_token, new_token, token_matches
from vigil.core.settings import SettingsError, load_settings
from vigil.local.servers import free_port

KEY = bytes(range(32))


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


def test_tokens_never_start_with_a_dash() -> None:
    # One urlsafe token in 64 starts with "-", which a command line reads as an option
    # (`vigil client --token -A9Z...` failed in CI). 2000 draws miss a dash with p ~ 1e-14.
    tokens = [new_token() for _ in range(2000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert any("-" in t for t in tokens)  # the dash is still in the alphabet


def open_repo(user_db: str, key: bytes = KEY) -> UserRepository:
    """The repository the settings choose for ``user_db`` (SQLite file or PostgreSQL URL)."""
    return open_repository(load_settings(user_db=user_db,
                                         secret_key=base64.b64encode(key).decode()))


def raw(user_db: str, statement: str) -> list[tuple[object, ...]]:
    """Rows read around the repository, straight from the engine."""
    if user_db.startswith("postgresql://"):
        with psycopg.connect(user_db) as conn:
            return conn.execute(statement).fetchall()
    with closing(sqlite3.connect(user_db)) as conn:
        return conn.execute(statement).fetchall()


def test_embeddings_are_encrypted_at_rest(user_db: str) -> None:
    repo = open_repo(user_db)
    vector = np.random.default_rng(7).normal(size=(2, 512)).astype(np.float32)
    vector /= np.linalg.norm(vector, axis=1, keepdims=True)
    repo.ensure_client("alice", "Alice")
    repo.set_embeddings("alice", vector)
    stored = repo.embeddings("alice")
    assert stored is not None and np.array_equal(stored, vector)
    repo.close()
    if user_db.startswith("postgresql://"):
        blob = bytes(raw(user_db, "SELECT embeddings FROM clients")[0][0])  # type: ignore[arg-type]
        on_disk = blob + repr(raw(user_db, "SELECT * FROM clients")).encode()
    else:
        folder = Path(user_db).parent
        on_disk = b"".join(p.read_bytes() for p in folder.iterdir())  # db, WAL and shm files
        assert stat.S_IMODE(Path(user_db).stat().st_mode) == 0o600
    # Neither the whole array nor any single float of it is stored as such.
    assert vector.tobytes() not in on_disk
    assert not any(value.tobytes() in on_disk for value in vector.reshape(-1)[:64])
    with pytest.raises(CryptoError):  # another key cannot read them
        open_repo(user_db, bytes(32)).embeddings("alice")


def test_state_changes_and_reenrollment_replace(user_db: str) -> None:
    repo = open_repo(user_db)
    for change in (lambda: repo.set_state("ghost", ClientState.BLOCKED, "", "cli"),
                   lambda: repo.set_token_hash("ghost", "h"),
                   lambda: repo.set_embeddings("ghost", np.ones((1, 512), np.float32))):
        with pytest.raises(UnknownClientError, match="ghost"):
            change()
    assert repo.ensure_client("bob").name == ""
    assert repo.ensure_client("bob", "Bob").name == "Bob"
    assert repo.set_state("bob", ClientState.PAUSED, "lunch", "cli")
    assert not repo.set_state("bob", ClientState.PAUSED, "lunch", "cli")  # unchanged
    assert repo.set_state("bob", ClientState.PAUSED, "meeting", "cli")  # the reason changed
    repo.set_embeddings("bob", np.ones((3, 512), np.float32))
    repo.set_embeddings("bob", np.ones((1, 512), np.float32))
    repo.set_token_hash("bob", "hash-1")
    repo.ensure_client("ann")
    record = repo.get("bob")
    assert record is not None
    assert (record.state, record.state_reason, record.state_actor, record.embedding_count,
            record.token_hash, record.enrolled) == (
        ClientState.PAUSED, "meeting", "cli", 1, "hash-1", True)
    assert [r.client_id for r in repo.list_clients()] == ["ann", "bob"]
    assert repo.get("nobody") is None and repo.embeddings("ann") is None
    repo.close()


def test_migrations_run_once_however_many_processes_start(user_db: str) -> None:
    errors: list[BaseException] = []
    together = threading.Barrier(4)

    def start() -> None:
        try:
            together.wait(10)
            open_repo(user_db).close()  # migrates the fresh database, or waits and sees it done
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    repo = open_repo(user_db)  # and a later start changes nothing
    repo.ensure_client("kept")
    assert raw(user_db, "SELECT version, description FROM schema_version ORDER BY version") == [
        (m.version, m.description) for m in MIGRATIONS]
    assert [r.client_id for r in repo.list_clients()] == ["kept"]
    repo.close()


def test_a_database_made_before_schema_version_is_adopted(user_db: str) -> None:
    # As the first wave, the console and `vigil clients forget` made it: every table and
    # column, no schema_version.
    dialect = POSTGRESQL if user_db.startswith("postgresql://") else SQLITE
    statements = [s for m in MIGRATIONS for s in m.statements(dialect)] + [
        f"ALTER TABLE {c.table} ADD COLUMN {c.column} {dialect.types(c.type)}"
        for m in MIGRATIONS for c in m.add_columns] + [
        "INSERT INTO clients (client_id, created_at, updated_at) VALUES ('old', 1, 1)",
        "INSERT INTO auditors VALUES ('ann', 'auditor', 'hash', 1)"]
    if dialect is POSTGRESQL:
        with psycopg.connect(user_db, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
    else:
        Path(user_db).parent.mkdir(parents=True)
        with closing(sqlite3.connect(user_db)) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
    repo = open_repo(user_db)
    assert [r.client_id for r in repo.list_clients()] == ["old"]
    assert [a.name for a in repo.list_auditors()] == ["ann"]
    assert raw(user_db, "SELECT version FROM schema_version ORDER BY version") == [
        (m.version,) for m in MIGRATIONS]
    repo.close()


def test_console_accounts_on_either_engine(user_db: str) -> None:
    repo = open_repo(user_db)
    repo.add_auditor("ann", AuditorRole.AUDITOR, "h1")
    with pytest.raises(AuditorExistsError, match="'ann' exists already"):
        repo.add_auditor("ann", AuditorRole.OPERATOR, "h2")
    repo.add_auditor("bob", AuditorRole.OPERATOR, "h3")
    record = repo.get_auditor("ann")
    assert record is not None and (record.role, record.credential_hash) == (
        AuditorRole.AUDITOR, "h1")
    assert [a.name for a in repo.list_auditors()] == ["ann", "bob"]
    assert repo.remove_auditor("ann") and not repo.remove_auditor("ann")
    assert repo.get_auditor("ann") is None
    repo.close()


def test_a_schema_newer_than_the_code_is_refused(user_db: str) -> None:
    open_repo(user_db).close()
    statement = "INSERT INTO schema_version VALUES (99, 'from the future', 0)"
    if user_db.startswith("postgresql://"):
        with psycopg.connect(user_db, autocommit=True) as conn:
            conn.execute(statement)
    else:
        with closing(sqlite3.connect(user_db)) as conn:
            conn.execute(statement)
            conn.commit()
    with pytest.raises(SchemaError, match=f"version 99; this Vigil knows up to {LATEST_VERSION}"):
        open_repo(user_db)


def test_postgres_repository_reconnects_after_losing_its_connection(postgres_db: str) -> None:
    repo = open_repo(postgres_db)
    repo.ensure_client("alice")
    with psycopg.connect(postgres_db, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = 'vigil'").fetchall()
    assert killed == [(True,)]
    record = repo.get("alice")  # reconnects once and answers
    assert record is not None and record.client_id == "alice"
    repo.close()


def test_user_db_setting_picks_the_engine_or_names_what_it_cannot_serve(tmp_path: Path) -> None:
    url = "postgresql://vigil:s3cret@db.example:5432/vigil"
    assert load_settings(user_db=url).control.user_db_url == url
    assert load_settings(user_db="postgres://h/db").control.user_db_url == "postgres://h/db"
    plain = load_settings(state_dir=tmp_path)
    assert plain.control.user_db_url is None and plain.user_db_path == tmp_path / "users.sqlite3"
    assert load_settings(user_db=str(tmp_path / "u.db")).user_db_path == tmp_path / "u.db"
    for bad in ("mysql://vigil:s3cret@db/vigil", "sqlite:///x.db", "postgresql:users"):
        with pytest.raises(SettingsError, match="user_db") as caught:
            load_settings(user_db=bad)
        assert "cannot serve a user database" in str(caught.value)
        assert "s3cret" not in str(caught.value)


def test_an_unreachable_postgres_is_an_error_naming_it_without_the_password() -> None:
    url = f"postgresql://vigil:s3cret@127.0.0.1:{free_port()}/vigil"
    with pytest.raises(UserDatabaseError) as caught:
        open_repo(url)
    message = str(caught.value)
    assert "cannot connect to the user database postgresql://vigil:***@127.0.0.1" in message
    assert "s3cret" not in message
