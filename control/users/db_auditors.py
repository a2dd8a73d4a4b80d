"""The auditor console's accounts in the user database: name, role, credential hash.

The statements are :class:`AuditorStatements`, a part of every user repository (both
engines), in the ``auditors`` table of migration 2 (control/users/db_schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from control.users.db_statements import Statements
from schemas.events import now_ms
from vigil.core.errors import VigilError


class AuditorRole(StrEnum):
    """What a console account may do: auditors read decisions and evidence; operators act
    on clients and see the accounts. Neither reaches the other's pages."""

    AUDITOR = "auditor"
    OPERATOR = "operator"


class AuditorExistsError(VigilError, ValueError):
    """A console account of that name exists already."""


@dataclass(frozen=True)
class AuditorRecord:
    """One console account as stored (the credential only as its salted scrypt hash)."""

    name: str
    role: AuditorRole
    credential_hash: str
    created_at: int


def _auditor(row: tuple[object, ...]) -> AuditorRecord:
    name, role, credential_hash, created_at = row
    return AuditorRecord(str(name), AuditorRole(str(role)), str(credential_hash),
                         int(str(created_at)))


_COLUMNS = "name, role, credential_hash, created_at"


class AuditorStatements(Statements):
    """The console account statements of a user repository (``?`` placeholders)."""

    def add_auditor(self, name: str, role: AuditorRole, credential_hash: str) -> AuditorRecord:
        """Store a new console account; AuditorExistsError when the name is taken."""
        record = AuditorRecord(name, role, credential_hash, now_ms())
        if not self._write(f"INSERT INTO auditors ({_COLUMNS}) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (name) DO NOTHING",
                           (name, role.value, credential_hash, record.created_at)):
            raise AuditorExistsError(f"console account {name!r} exists already")
        return record

    def get_auditor(self, name: str) -> AuditorRecord | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM auditors WHERE name = ?", (name,))
        return _auditor(rows[0]) if rows else None

    def list_auditors(self) -> list[AuditorRecord]:
        return [_auditor(row) for row in self._rows(f"SELECT {_COLUMNS} FROM auditors "
                                                    "ORDER BY name")]

    def remove_auditor(self, name: str) -> bool:
        """Delete a console account; True when it existed."""
        return self._write("DELETE FROM auditors WHERE name = ?", (name,)) > 0
