"""What a group of user-database statements needs from the repository it is mixed into.

The statement groups (auditors, outbox, active models) are mixins of
:class:`control.users.db.SqlUserRepository`: each writes its SQL with ``?`` placeholders and runs it
through these methods, which the repository implements once for SQLite and PostgreSQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager


class Statements(ABC):
    """The repository's row reader, writer and transaction, for a statement group."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]: ...

    @abstractmethod
    def _write(self, sql: str, params: Sequence[object]) -> int: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]: ...
