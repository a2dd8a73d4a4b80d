"""Schema migrations of the user database, one list for SQLite and PostgreSQL.

Every repository runs :func:`apply_migrations` when it opens: the ``schema_version`` table
records each applied migration (version, description, applied_at), and only the ones above
the highest recorded version run, inside one transaction that the engine serializes (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so two processes starting at once, or a
second start, change nothing. A database whose version is newer than this code knows is
refused: an older Vigil must not write to a schema it does not understand.

A migration's SQL names column types through ``{blob}``, ``{bigint}`` and ``{serial}``, the
only places the two engines differ; a column it adds is an :class:`AddColumn`, skipped where
the column exists (SQLite has no ``ADD COLUMN IF NOT EXISTS``). Add a migration at the end of
:data:`MIGRATIONS`, never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.core.errors import VigilError


class SchemaError(VigilError):
    """The user database's schema cannot be brought to the version this code needs."""


@dataclass(frozen=True)
class Dialect:
    """Column types of one SQL engine."""

    name: str
    blob: str
    bigint: str
    # One row when the table (first ?) has the column (second ?).
    has_column: str
    serial: str  # an increasing integer primary key

    def types(self, sql: str) -> str:
        return sql.format(blob=self.blob, bigint=self.bigint, serial=self.serial)


SQLITE = Dialect("sqlite", blob="BLOB", bigint="INTEGER",
                 has_column="SELECT 1 FROM pragma_table_info(?) WHERE name = ?",
                 serial="INTEGER PRIMARY KEY AUTOINCREMENT")
POSTGRESQL = Dialect("postgresql", blob="BYTEA", bigint="BIGINT",
                     has_column="SELECT 1 FROM information_schema.columns WHERE table_schema = "
                                "current_schema() AND table_name = ? AND column_name = ?",
                     serial="BIGSERIAL PRIMARY KEY")


@dataclass(frozen=True)
class AddColumn:
    """A column added to an existing table; its type may name ``{blob}`` or ``{bigint}``."""

    table: str
    column: str
    type: str


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: tuple[str, ...]
    add_columns: tuple[AddColumn, ...] = ()

    def statements(self, dialect: Dialect) -> list[str]:
        return [dialect.types(sql) for sql in self.sql]


MIGRATIONS: tuple[Migration, ...] = (
    # IF NOT EXISTS: databases made before schema_version existed already hold this table.
    Migration(1, "clients", ("""
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'active',
    state_reason TEXT NOT NULL DEFAULT '',
    state_actor TEXT NOT NULL DEFAULT '',
    token_hash TEXT,
    embeddings {blob},
    embedding_count INTEGER NOT NULL DEFAULT 0,
    created_at {bigint} NOT NULL,
    updated_at {bigint} NOT NULL,
    enrolled_at {bigint}
)""",)),
    # IF NOT EXISTS: the auditor console made this table before it was a migration.
    Migration(2, "auditors", ("""
CREATE TABLE IF NOT EXISTS auditors (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    credential_hash TEXT NOT NULL,
    created_at {bigint} NOT NULL
)""",)),
    # Per-client data keys (control/users/client_keys.py); IF NOT EXISTS and AddColumn: SQLite files
    # made by the first `vigil clients forget` before this was a migration hold them already.
    Migration(3, "client keys", ("""
CREATE TABLE IF NOT EXISTS client_keys (
    key_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    wrapped {blob},
    created_at {bigint} NOT NULL,
    destroyed_at {bigint}
)""",
        # One live key per client, whoever creates it first (enrollment or the evidence sink).
        "CREATE UNIQUE INDEX IF NOT EXISTS client_keys_live ON client_keys (client_id) "
        "WHERE wrapped IS NOT NULL"),
        add_columns=(AddColumn("clients", "embeddings_key", "TEXT"),)),
    # The outbox of control events (control/users/db_outbox.py, control/events/outbox.py).
    Migration(4, "outbox", ("""
CREATE TABLE IF NOT EXISTS outbox (
    seq {serial},
    client_id TEXT NOT NULL,
    event {blob} NOT NULL,
    created_at {bigint} NOT NULL,
    redis_done INTEGER NOT NULL DEFAULT 0,
    kafka_done INTEGER NOT NULL DEFAULT 0
)""", """
CREATE TABLE IF NOT EXISTS outbox_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at {bigint} NOT NULL
)""")),
    # The models `vigil weights activate` chose (control/users/db_models.py).
    Migration(5, "active models", ("""
CREATE TABLE IF NOT EXISTS active_models (
    role TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    actor TEXT NOT NULL,
    activated_at {bigint} NOT NULL
)""",)),
)
LATEST_VERSION = MIGRATIONS[-1].version

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at {bigint} NOT NULL
)"""

# Runs one statement (``?`` placeholders) and returns its rows (empty for DDL and writes).
Execute = Callable[[str, Sequence[object]], list[tuple[object, ...]]]


def apply_migrations(execute: Execute, dialect: Dialect, now_ms: int,
                     where: str) -> list[Migration]:
    """Bring the schema up to :data:`LATEST_VERSION` inside the caller's transaction.

    Returns the migrations applied (none on a second run). ``where`` names the database in
    errors.
    """
    execute(VERSION_TABLE.format(bigint=dialect.bigint), ())
    rows = execute("SELECT MAX(version) FROM schema_version", ())
    current = int(str(rows[0][0])) if rows and rows[0][0] is not None else 0
    if current > LATEST_VERSION:
        raise SchemaError(f"the user database {where} has schema version {current}; this "
                          f"Vigil knows up to {LATEST_VERSION}: upgrade Vigil before using it")
    applied = [m for m in MIGRATIONS if m.version > current]
    for migration in applied:
        for statement in migration.statements(dialect):
            execute(statement, ())
        for add in migration.add_columns:
            if not execute(dialect.has_column, (add.table, add.column)):
                execute(f"ALTER TABLE {add.table} ADD COLUMN {add.column} "
                        f"{dialect.types(add.type)}", ())
        execute("INSERT INTO schema_version (version, description, applied_at) "
                "VALUES (?, ?, ?)", (migration.version, migration.description, now_ms))
    return applied
