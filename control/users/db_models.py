"""The models `vigil weights activate` chose, in the user database: role -> plug-in name.

The statements are :class:`ActiveModelStatements`, a part of every user repository (both
engines), in the ``active_models`` table of migration 5 (control/users/db_schema.py). A role without
a row is served by the plug-in its setting names; a row overrides the setting, in every
process that opens this database (processors on other machines too), until another
activation replaces it.
"""

from __future__ import annotations

from control.users.db_statements import Statements
from schemas.events import now_ms


class ActiveModelStatements(Statements):
    """The active-model statements of a user repository (``?`` placeholders)."""

    def active_models(self) -> dict[str, str]:
        """Role -> plug-in name, for every role an activation chose."""
        return {str(role): str(name) for role, name in
                self._rows("SELECT role, name FROM active_models ORDER BY role")}

    def set_active_model(self, role: str, name: str, actor: str) -> bool:
        """Store the activation; False (nothing written) when ``name`` was active already."""
        with self.transaction():
            if self.active_models().get(role) == name:
                return False
            self._write(
                "INSERT INTO active_models (role, name, actor, activated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (role) DO UPDATE SET name = excluded.name, "
                "actor = excluded.actor, activated_at = excluded.activated_at",
                (role, name, actor, now_ms()))
        return True
