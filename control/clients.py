"""Client state changes: the user database, then Redis, then the ``control`` topic.

:class:`ClientControl` is the one way a client's state changes (``vigil clients``, the
clients file, ``vigil enroll``, ``vigil token``). Each change is written to the database (the
source of truth), mirrored to the ``{ns}:client:{client_id}`` hash, published as a
ControlEvent on the ``{ns}:control`` Redis channel (gateways act on it at once) and produced
to ``{ns}.control`` keyed by client_id (every stage reacts; the audit sink records it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import redis
from confluent_kafka import Producer

from control import redis_keys as keys
from control.db import ClientRecord, ClientState, UnknownClientError, UserRepository
from control.tokens import hash_token, new_token
from schemas.events import ControlEvent, ControlKind, now_ms
from vigil.core.errors import VigilError
from vigil.core.kafka import make_producer, produce_all
from vigil.core.settings import Settings
from vigil.core.topics import CONTROL

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_S = 30.0
_STATE_EVENT = {
    ClientState.ACTIVE: ControlKind.RESUMED,
    ClientState.PAUSED: ControlKind.PAUSED,
    ClientState.BLOCKED: ControlKind.BLOCKED,
}


class ControlPublishError(VigilError, RuntimeError):
    """The change is stored but the control event did not reach Kafka or Redis."""


class ClientControl:
    """Changes client state everywhere it lives; see the module docstring."""

    def __init__(self, settings: Settings, repo: UserRepository,
                 client: redis.Redis | None = None, producer: Producer | None = None) -> None:
        self.settings = settings
        self.repo = repo
        self.redis = client or redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        self._producer = producer

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            # Fail fast when the topic or broker is missing, but wait for a slow `vigil up`.
            self._producer = make_producer(self.settings, **{
                "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000),
                "client.id": f"{self.settings.namespace}-control"})
        return self._producer

    def require(self, client_id: str) -> ClientRecord:
        record = self.repo.get(client_id)
        if record is None:
            raise UnknownClientError(f"unknown client {client_id!r}: enroll it first")
        return record

    def set_state(self, client_id: str, state: ClientState, reason: str = "",
                  actor: str = "cli", create: bool = False) -> bool:
        """Change the state; False (and nothing published) when it was already so."""
        if create:
            self.repo.ensure_client(client_id)
        else:
            self.require(client_id)
        if not self.repo.set_state(client_id, state, reason, actor):
            return False
        self.publish(client_id, _STATE_EVENT[state], reason, actor)
        log.info("client state client_id=%s state=%s actor=%s reason=%s", client_id, state,
                 actor, reason)
        return True

    def issue_token(self, client_id: str) -> str:
        """A new access token for the client: only its hash is stored; shown once."""
        self.require(client_id)
        token = new_token()
        self.repo.set_token_hash(client_id, hash_token(token))
        self.publish(client_id, ControlKind.TOKEN_ISSUED)
        return token

    def forget(self, client_id: str, reason: str = "", actor: str = "cli",
               erase_files: Callable[[str], object] | None = None) -> int:
        """Erase the client's biometric data, then announce it (the audit sink records it).

        The key is destroyed first: it is what makes every copy unreadable. ``erase_files``
        then removes what no key protects (old evidence under the data key). Returns the
        live keys destroyed.
        """
        self.require(client_id)
        destroyed = self.repo.forget(client_id)
        if erase_files is not None:
            erase_files(client_id)
        self.publish(client_id, ControlKind.FORGOTTEN, reason, actor)
        log.info("client forgotten client_id=%s keys_destroyed=%d actor=%s", client_id,
                 destroyed, actor)
        return destroyed

    def mirror(self, record: ClientRecord) -> None:
        """Copy the client's state to its Redis hash."""
        self.redis.hset(keys.client_key(self.settings.namespace, record.client_id), mapping={
            "state": record.state.value, "reason": record.state_reason,
            "updated_at": str(record.updated_at), "enrolled": "1" if record.enrolled else "0"})

    def publish(self, client_id: str, kind: ControlKind, reason: str = "",
                actor: str = "cli") -> ControlEvent:
        """Mirror to Redis, publish on the Redis channel, produce to Kafka and wait for it."""
        record = self.require(client_id)
        event = ControlEvent(event_id=uuid.uuid4().hex, client_id=client_id, kind=kind,
                             reason=reason[:500], at=now_ms(), actor=actor[:100])
        payload = CONTROL.serializer.dumps(event)
        try:
            self.mirror(record)
            self.redis.publish(keys.control_channel(self.settings.namespace), payload)
        except redis.RedisError as exc:
            raise ControlPublishError(f"stored, but Redis at {self.settings.redis_url} did "
                                      f"not take the change: {exc}") from exc
        self._produce(event, payload)
        return event

    def _produce(self, event: ControlEvent, payload: bytes) -> None:
        topic = CONTROL.name(self.settings)
        problems = produce_all(self.producer, topic, [(event.client_id.encode(), payload)],
                               DELIVERY_TIMEOUT_S + 5)
        if problems:
            raise ControlPublishError(
                f"stored, but the control event did not reach Kafka topic {topic} at "
                f"{self.settings.kafka_bootstrap}: {problems[0]}")
        log.info("control event produced topic=%s client_id=%s kind=%s event_id=%s", topic,
                 event.client_id, event.kind, event.event_id)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
        self.redis.close()
