"""Delivering the outbox: control events from the user database to Redis and Kafka.

A change (control/clients.py) writes its ControlEvent to the outbox in the same database
transaction as the change itself, so the database is the truth even while Redis or Kafka is
down. Delivering an event is two things, tracked apart:

- Redis: the client's hash mirrored from the database (``{ns}:client:{client_id}``) and the
  event on the ``{ns}:control`` channel (gateways act on it within milliseconds);
- Kafka: the event on the ``{ns}.control`` topic keyed by client_id (every stage reacts; the
  audit sink records it).

One drainer at a time holds the lease in the database for a round. The command that made the
change drains at once; every gateway drains every ``outbox_poll_s``, so a change made while
Redis or Kafka was down arrives when it is back. Events go out in outbox order, one at a time;
the first failure stops that destination for the round, so a client's events never overtake
each other. At least once: a drainer that dies between sending and marking sends again
(consumers know an event by its ``event_id``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis
from confluent_kafka import KafkaError, Message, Producer
from redis.typing import EncodableT

from control.cluster import redis_keys as keys
from control.users.db import ClientRecord, OutboxEntry, UserRepository
from vigil.core.background import BackgroundLoop
from vigil.core.flow import CONTROL
from vigil.core.kafka import make_producer
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

ROUND_LIMIT = 500  # events per round: a long outage drains over several rounds
REDIS_TIMEOUT_S = 2.0
REDIS = "Redis"
KAFKA = "Kafka"


@dataclass
class DrainReport:
    """One round: events each destination took, events left, and what went wrong where."""

    leased: bool = True
    to_redis: int = 0
    to_kafka: int = 0
    pending: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # REDIS/KAFKA -> what happened


def client_hash(record: ClientRecord) -> Mapping[EncodableT, EncodableT]:
    """The fields of ``{ns}:client:{client_id}``: the database's state of the client."""
    return {"state": record.state.value, "reason": record.state_reason,
            "updated_at": str(record.updated_at), "enrolled": "1" if record.enrolled else "0"}


class OutboxDrainer:
    """Delivers the outbox in rounds (:meth:`drain`); see the module docstring."""

    def __init__(self, settings: Settings, repo: UserRepository, holder: str,
                 client: redis.Redis | None = None, producer: Producer | None = None) -> None:
        self.settings = settings
        self.repo = repo
        self.holder = holder
        self.redis = client or redis.Redis.from_url(
            settings.redis.url, socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S)
        self._producer = producer
        self._last_problems: dict[str, str] = {}
        self._round = threading.Lock()  # close() waits for a round on another thread

    @property
    def lease_ms(self) -> int:
        """Longer than a round can take: a crashed drainer's lease lapses after it."""
        return int((self.settings.control.outbox_delivery_timeout_s + 3 * REDIS_TIMEOUT_S) * 2000)

    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = make_producer(self.settings, **{
                "message.timeout.ms": int(self.settings.control.outbox_delivery_timeout_s * 1000),
                "client.id": f"{self.settings.deployment.namespace}-outbox"})
        return self._producer

    def drain(self) -> DrainReport:
        """Deliver what the outbox holds, if no other drainer is at it now."""
        with self._round:
            return self._drain()

    def _drain(self) -> DrainReport:
        if not self.repo.outbox_lease(self.holder, self.lease_ms):
            return DrainReport(leased=False)
        try:
            entries = self.repo.outbox_pending(ROUND_LIMIT)
            report = DrainReport()
            if entries:
                report.to_redis = self._to_redis([e for e in entries if not e.redis_done],
                                                 report)
                report.to_kafka = self._to_kafka([e for e in entries if not e.kafka_done],
                                                 report)
                report.pending = len(self.repo.outbox_pending(ROUND_LIMIT))
        finally:
            self.repo.outbox_release(self.holder)
        self._log(report)
        return report

    def _to_redis(self, entries: list[OutboxEntry], report: DrainReport) -> int:
        ns = self.settings.deployment.namespace
        done: list[int] = []
        try:
            for entry in entries:
                record = self.repo.get(entry.client_id)
                with self.redis.pipeline(transaction=True) as pipe:
                    if record is not None:
                        pipe.hset(keys.client_key(ns, entry.client_id),
                                  mapping=client_hash(record))
                    pipe.publish(keys.control_channel(ns), entry.event)
                    pipe.execute()
                done.append(entry.seq)
        except redis.RedisError as exc:
            report.problems[REDIS] = (f"Redis at {self.settings.redis.url} did not answer "
                                      f"({str(exc).rstrip('.')})")
        if done:
            self.repo.outbox_done(done, "redis")
        return len(done)

    def _to_kafka(self, entries: list[OutboxEntry], report: DrainReport) -> int:
        topic = CONTROL.name(self.settings)
        done: list[int] = []
        for entry in entries:
            errors: list[str] = []

            def delivered(err: KafkaError | None, _msg: Message, errors: list[str] = errors
                          ) -> None:
                if err is not None:
                    errors.append(err.str())

            producer = self.producer()
            producer.produce(topic, key=entry.client_id.encode(), value=entry.event,
                             on_delivery=delivered)
            if producer.flush(self.settings.control.outbox_delivery_timeout_s + 1) > 0:
                errors.append("no answer in time")
            if errors:
                report.problems[KAFKA] = (f"Kafka at {self.settings.kafka.bootstrap} did not "
                                          f"take it on topic {topic} ({errors[0]})")
                producer.purge()  # drop the undelivered copy: the outbox keeps the event
                self._producer = None  # and a fresh producer takes it next round
                break
            done.append(entry.seq)
        if done:
            self.repo.outbox_done(done, "kafka")
        return len(done)

    def _log(self, report: DrainReport) -> None:
        for where, problem in report.problems.items():
            if self._last_problems.get(where) != problem:
                log.warning("outbox: %s; %d event(s) wait in the user database", problem,
                            report.pending)
        for where in set(self._last_problems) - set(report.problems):
            log.info("outbox: %s takes events again", where)
        if report.to_redis or report.to_kafka:
            log.info("outbox delivered redis=%d kafka=%d pending=%d", report.to_redis,
                     report.to_kafka, report.pending)
        self._last_problems = dict(report.problems)

    def close(self) -> None:
        with self._round:
            if self._producer is not None:
                self._producer.flush(1)
            self.redis.close()


def outbox_loop(drainer: OutboxDrainer, interval_s: float) -> BackgroundLoop:
    """A gateway's outbox loop: one round every ``interval_s`` on a worker thread. A round
    that fails (database, Kafka, anything) leaves the events in the outbox; the loop logs,
    counts and tries again after a backoff (vigil/core/background.py)."""

    async def one_round() -> None:
        await asyncio.to_thread(drainer.drain)

    return BackgroundLoop("outbox", one_round, interval_s)
