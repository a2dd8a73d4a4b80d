"""Opening the user database: the engine the ``user_db`` setting names, with the data key.

A module of its own so that neither engine's module imports the other: control/users/db.py
(the interface, the shared statements, SQLite) and control/users/db_postgres.py (PostgreSQL)
stand side by side, and only this factory knows both.
"""

from __future__ import annotations

from control.users.crypto import load_key
from control.users.db import SqliteUserRepository, UserRepository
from vigil.core.settings import Settings


def open_repository(settings: Settings, with_key: bool = True) -> UserRepository:
    """The configured user database, key from the settings: a ``postgresql://`` URL in
    ``user_db`` opens PostgreSQL (psycopg is imported only then), anything else one SQLite
    file. ``with_key`` False: without the data key (a gateway needs token hashes and states
    only); reading or writing biometric data then raises CryptoError."""
    key = load_key(settings) if with_key else None
    url = settings.control.user_db_url
    if url is not None:
        from control.users.db_postgres import PostgresUserRepository

        return PostgresUserRepository(url, key)
    return SqliteUserRepository(settings.user_db_path, key)
