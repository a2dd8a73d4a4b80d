"""The user database on PostgreSQL (psycopg 3), shared by several machines.

Chosen by a ``postgresql://`` (or ``postgres://``) URL in the ``user_db`` setting, for example
``postgresql://vigil@db.example:5432/vigil``; the password may be in the URL or, better, in
libpq's ``PGPASSWORD`` or ``~/.pgpass``. The statements and migrations are those of every
engine (db.py, db_schema.py beside this file); migrations hold an advisory lock, so machines
starting together apply each one once.

One connection per repository, in autocommit mode, used under the repository's lock. When the
server restarts, the next statement reconnects once and runs again (every statement of the
repository is safe to repeat); a server that stays away is a :class:`UserDatabaseError`
naming the URL without its password.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg

from control.users.db import Row, SqlUserRepository, UserDatabaseError
from control.users.db_schema import POSTGRESQL
from vigil.core.settings import redact_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key of schema migrations (any constant; "vigil" in ASCII).
MIGRATION_LOCK = 0x76696769_6C


def postgres_tool(name: str) -> Path | None:
    """A PostgreSQL program (pg_dump, initdb, ...): the newest Debian server's, else PATH's."""
    versions = sorted((p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")
                       if p.parent.parent.name.isdigit()),
                      key=lambda p: int(p.parent.parent.name))
    if versions:
        return versions[-1]
    found = shutil.which(name)
    return Path(found) if found else None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def query(url: str, statement: str) -> list[Row]:
    """One statement on its own short connection (tools that must not migrate or keep one)."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            return conn.execute(statement).fetchall()
    except psycopg.Error as exc:
        raise UserDatabaseError(f"user database {redact_url(url)}: {_first_line(exc)}") from None


class PostgresUserRepository(SqlUserRepository):
    """The user database on a PostgreSQL server; see the module docstring."""

    def __init__(self, url: str, key: bytes | None) -> None:
        super().__init__(key)
        self.url = url
        self.where = redact_url(url)
        self._in_transaction = False
        self._conn = self._connect()
        self._migrate(POSTGRESQL, self.where)

    def _connect(self) -> psycopg.Connection[Row]:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name="vigil")
        except psycopg.Error as exc:
            raise UserDatabaseError(f"cannot connect to the user database {self.where}: "
                                    f"{_first_line(exc)}") from None

    def _execute(self, sql: str, params: Sequence[object] = ()) -> tuple[list[Row], int]:
        statement = sql.replace("?", "%s")  # the shared statements hold no other ? or %
        for attempt in (1, 2):
            try:
                with self._conn.cursor() as cursor:
                    cursor.execute(statement, tuple(params))
                    rows = cursor.fetchall() if cursor.description is not None else []
                    return rows, cursor.rowcount
            except psycopg.OperationalError as exc:
                if attempt == 2 or self._in_transaction or not self._conn.closed:
                    raise UserDatabaseError(f"user database {self.where}: "
                                            f"{_first_line(exc)}") from None
                log.warning("user database connection lost (%s); reconnecting to %s",
                            _first_line(exc), self.where)
                self._conn = self._connect()
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._in_transaction = True
        try:
            with self._conn.transaction():
                self._execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                yield
        finally:
            self._in_transaction = False

    def close(self) -> None:
        with self._lock:
            self._conn.close()
