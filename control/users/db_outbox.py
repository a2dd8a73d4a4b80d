"""The outbox of the user database: control events waiting for Redis and Kafka.

``outbox`` holds control events written in the same transaction as the change they announce
(:meth:`control.users.db.SqlUserRepository.transaction`) until Redis and Kafka both took them; the
one ``outbox_lease`` row lets one drainer at a time deliver them (control/events/outbox.py). The
statements are :class:`OutboxStatements`, a part of every user repository (both engines), in
the tables of migration 4 (control/users/db_schema.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from control.users.db_statements import Statements
from schemas.events import now_ms

OutboxTarget = Literal["redis", "kafka"]
_DONE_COLUMN = {"redis": "redis_done", "kafka": "kafka_done"}


@dataclass(frozen=True)
class OutboxEntry:
    """One control event waiting in the outbox; ``event`` is its ControlEvent JSON."""

    seq: int
    client_id: str
    event: bytes
    redis_done: bool
    kafka_done: bool


def _entry(row: tuple[object, ...]) -> OutboxEntry:
    seq, client_id, event, redis_done, kafka_done = row
    assert isinstance(event, bytes | bytearray | memoryview), type(event)
    return OutboxEntry(int(str(seq)), str(client_id), bytes(event), bool(redis_done),
                       bool(kafka_done))


class OutboxStatements(Statements):
    """The outbox statements of a user repository (``?`` placeholders)."""

    def outbox_add(self, client_id: str, event: bytes) -> int:
        """Queue one ControlEvent JSON; returns its place in the outbox."""
        rows = self._rows("INSERT INTO outbox (client_id, event, created_at) VALUES (?, ?, ?) "
                          "RETURNING seq", (client_id, event, now_ms()))
        return int(str(rows[0][0]))

    def outbox_pending(self, limit: int) -> list[OutboxEntry]:
        """The oldest ``limit`` events that Redis or Kafka has not taken yet, in order."""
        return [_entry(row) for row in self._rows(
            "SELECT seq, client_id, event, redis_done, kafka_done FROM outbox ORDER BY seq "
            "LIMIT ?", (limit,))]

    def outbox_done(self, seqs: Sequence[int], target: OutboxTarget) -> None:
        """Mark events taken by ``target``; an event both took leaves the outbox."""
        with self.transaction():
            for seq in seqs:
                self._write(f"UPDATE outbox SET {_DONE_COLUMN[target]} = 1 WHERE seq = ?",
                            (seq,))
            self._write("DELETE FROM outbox WHERE redis_done = 1 AND kafka_done = 1", ())

    def outbox_lease(self, holder: str, ttl_ms: int) -> bool:
        """Take (or extend) the drain lease for ``ttl_ms``; False while another holds it."""
        now = now_ms()
        with self.transaction():
            self._write(
                "INSERT INTO outbox_lease (name, holder, expires_at) VALUES ('drain', ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at "
                "WHERE outbox_lease.expires_at < ? OR outbox_lease.holder = excluded.holder",
                (holder, now + ttl_ms, now))
            rows = self._rows("SELECT holder FROM outbox_lease WHERE name = 'drain'")
        return bool(rows) and rows[0][0] == holder

    def outbox_release(self, holder: str) -> None:
        self._write("DELETE FROM outbox_lease WHERE name = 'drain' AND holder = ?", (holder,))
