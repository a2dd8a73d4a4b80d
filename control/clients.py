"""Client state changes: the user database (with its outbox), then Redis and the ``control`` topic.

:class:`ClientControl` is the one way a client's state changes (``vigil clients``, the
clients file, ``vigil enroll``, ``vigil token``, ``vigil clients forget``, the console). Each
change and its ControlEvent are written to the database (the source of truth) in one
transaction, the event into the outbox; then the outbox is delivered (control/events/outbox.py): the
``{ns}:client:{client_id}`` hash mirrored, the event published on the ``{ns}:control`` Redis
channel (gateways act on it at once) and produced to ``{ns}.control`` keyed by client_id
(every stage reacts; the audit sink records it). When Redis or Kafka is down the change still
succeeds: :attr:`ClientControl.problems` says what has not taken it yet, and a running
gateway delivers it when it is back.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from confluent_kafka import Producer

from control.events.outbox import DrainReport, OutboxDrainer
from control.users.db import ClientRecord, ClientState, UnknownClientError, UserRepository
from control.users.tokens import hash_token, new_token
from schemas.events import ControlEvent, ControlKind, ModelActivation, now_ms
from vigil.core.flow import CONTROL
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

LEASE_WAIT_POLL_S = 0.2
_STATE_EVENT = {
    ClientState.ACTIVE: ControlKind.RESUMED,
    ClientState.PAUSED: ControlKind.PAUSED,
    ClientState.BLOCKED: ControlKind.BLOCKED,
}


class ClientControl:
    """Changes client state everywhere it lives; see the module docstring."""

    def __init__(self, settings: Settings, repo: UserRepository,
                 client: redis.Redis | None = None, producer: Producer | None = None) -> None:
        self.settings = settings
        self.repo = repo
        self.drainer = OutboxDrainer(settings, repo, f"control-{os.getpid()}-"
                                     f"{uuid.uuid4().hex[:6]}", client, producer)
        # Destination (Redis, Kafka) -> why it has not taken this command's changes yet.
        self.problems: dict[str, str] = {}

    def require(self, client_id: str) -> ClientRecord:
        record = self.repo.get(client_id)
        if record is None:
            raise UnknownClientError(f"unknown client {client_id!r}: enroll it first")
        return record

    def set_state(self, client_id: str, state: ClientState, reason: str = "",
                  actor: str = "cli", create: bool = False) -> bool:
        """Change the state; False (and nothing announced) when it was already so."""
        with self.repo.transaction():
            if create:
                self.repo.ensure_client(client_id)
            else:
                self.require(client_id)
            changed = self.repo.set_state(client_id, state, reason, actor)
            if changed:
                self.record(client_id, _STATE_EVENT[state], reason, actor)
        if changed:
            log.info("client state client_id=%s state=%s actor=%s reason=%s", client_id,
                     state, actor, reason)
            self.deliver()
        return changed

    def issue_token(self, client_id: str) -> str:
        """A new access token for the client: only its hash is stored; shown once."""
        token = new_token()
        with self.change(client_id, ControlKind.TOKEN_ISSUED):
            self.require(client_id)
            self.repo.set_token_hash(client_id, hash_token(token))
        return token

    def revoke_token(self, client_id: str) -> None:
        with self.change(client_id, ControlKind.TOKEN_REVOKED):
            self.repo.set_token_hash(client_id, None)

    def forget(self, client_id: str, reason: str = "", actor: str = "cli",
               erase_files: Callable[[str], object] | None = None) -> int:
        """Erase the client's biometric data, then announce it (the audit sink records it).

        The key is destroyed first: it is what makes every copy unreadable. ``erase_files``
        then removes what no key protects (old evidence under the data key). Returns the
        live keys destroyed.
        """
        self.require(client_id)
        with self.change(client_id, ControlKind.FORGOTTEN, reason, actor):
            destroyed = self.repo.forget(client_id)
        if erase_files is not None:
            erase_files(client_id)
        log.info("client forgotten client_id=%s keys_destroyed=%d actor=%s", client_id,
                 destroyed, actor)
        return destroyed

    @contextmanager
    def change(self, client_id: str, kind: ControlKind, reason: str = "",
               actor: str = "cli") -> Iterator[None]:
        """The database writes inside and the event they make, in one transaction; then the
        event is delivered. The client must exist once the writes inside are done."""
        with self.repo.transaction():
            yield
            self.require(client_id)
            self.record(client_id, kind, reason, actor)
        self.deliver()

    def record(self, client_id: str, kind: ControlKind, reason: str, actor: str,
               activation: ModelActivation | None = None) -> None:
        """Write the event into the outbox (inside the caller's transaction)."""
        event = ControlEvent(event_id=uuid.uuid4().hex, client_id=client_id, kind=kind,
                             reason=reason[:500], at=now_ms(), actor=actor[:100],
                             activation=activation)
        self.repo.outbox_add(client_id, CONTROL.serializer.dumps(event))

    def deliver(self) -> DrainReport:
        """Deliver the outbox now (waiting a round for a gateway that is at it)."""
        wait_s = self.settings.control.outbox_delivery_timeout_s + 3.0
        deadline = time.monotonic() + wait_s
        report = self.drainer.drain()
        while not report.leased and time.monotonic() < deadline:
            time.sleep(LEASE_WAIT_POLL_S)
            report = self.drainer.drain()
        self.problems = dict(report.problems)
        if not report.leased:
            self.problems["the outbox"] = (f"another process kept it for {wait_s:.0f} s; a "
                                           "running gateway delivers the change")
        return report

    def close(self) -> None:
        self.drainer.close()
