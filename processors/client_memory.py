"""What a model stage remembers of each client's last frame, for at most ``limit`` clients.

The phone stage's reuse gate (processors/phone_reuse.py) and the face stage's scene measure
(processors/scene_motion.py) each keep one entry per client: the least recently seen client
is forgotten first, which only costs that client one frame's shortcut or measure. In memory
only; a client whose partition moved to another process starts afresh there.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class ClientMemory(Generic[T]):
    """One entry per client id, least recently seen forgotten first past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, client_id: str) -> T | None:
        """The client's entry (it counts as seen now), or None."""
        entry = self._entries.get(client_id)
        if entry is not None:
            self._entries.move_to_end(client_id)
        return entry

    def remember(self, client_id: str, entry: T) -> None:
        """Keep ``entry`` as the client's, forgetting the least recently seen past the limit."""
        self._entries[client_id] = entry
        self._entries.move_to_end(client_id)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def forget(self, client_id: str) -> T | None:
        """Drop the client's entry and return it (None if there was none)."""
        return self._entries.pop(client_id, None)

    def clear(self) -> None:
        self._entries.clear()
