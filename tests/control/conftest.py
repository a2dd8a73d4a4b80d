"""The control tests run against both user database engines: SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def user_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``user_db`` setting of this test: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "db" / "users.sqlite3")
    url: str = request.getfixturevalue("postgres_db")
    return url
