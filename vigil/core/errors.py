"""One error base for what a user sees: a message and the process exit code.

Every error meant for a person (bad settings, an unknown client, a refused enrollment, a
tampered archive) derives from :class:`VigilError`. The CLI prints ``vigil: MESSAGE`` and exits
with ``exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class VigilError(Exception):
    """An error with a message meant for the user and the exit code that goes with it."""

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__
