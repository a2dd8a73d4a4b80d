"""The Faust wiring of the decide stage: topics, tables, agents and timers.

- One agent reads ``face-results``, ``phone-results`` and ``control`` (all keyed by client_id,
  same partition count), joins the results by frame_id in the ``pending`` table (memory
  store, changelog topic ``{ns}-decide-pending-changelog``; a restart recovers it from there)
  and records each client's state from control events in the ``clients`` table, so a blocked
  client's frames get ``block``. The group reads ``control`` from its start the first time.
- Faust forbids table writes outside an agent (``Cannot modify table outside of
  agent/stream``), and each changelog record must go to the partition of its client. So the
  deadline timer does not decide by itself: it sends a tick to the internal topic
  ``{ns}-decide-ticks`` *into the partition* holding an overdue frame, and a second agent
  decides that partition's overdue frames while handling the tick. The decided-frames sweep
  works the same way, on its own slower timer.
- Decisions go to ``{ns}.decisions`` keyed by client_id (aiokafka's default partitioner is the
  Java murmur2, the same as every other producer's).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import faust

from processors.decide.blocking import block_client
from processors.decide.decider import Decider, Outcome
from processors.decide.policy_file import PolicyReloader, policy_path
from processors.decide.step import STAGE, DecideStep, block_reason, record_decision
from schemas.serializers import ContractError
from vigil.core.dead_letter import dead_letter_headers, record_dead_letter
from vigil.core.flow import (
    CONTROL,
    DECIDE_CHANGELOGS,
    DECIDE_STAGE,
    DECIDE_TABLES,
    DECIDE_TICKS,
    DECISIONS,
    FACE_RESULTS,
    FRAMES_DLQ,
    PHONE_RESULTS,
)
from vigil.core.settings import Settings
from vigil.core.topics import cluster_durability

log = logging.getLogger(__name__)

TICK_RESEND_S = 5.0  # a tick not handled within this long (lost in a rebalance) is sent again


class DecideStage:
    """The decide app of one worker process, built from the settings."""

    def __init__(self, settings: Settings, web_port: int = 0) -> None:
        self.settings = settings
        self.policy = PolicyReloader(policy_path(settings), settings,
                                     settings.decide.policy_check_interval_s)
        self.app = self._make_app(settings, web_port)
        self.face_topic = FACE_RESULTS.name(settings)
        self.phone_topic = PHONE_RESULTS.name(settings)
        self.control_topic = CONTROL.name(settings)
        self.sources = self._raw_topic(self.face_topic, self.phone_topic, self.control_topic)
        self.decisions = self._raw_topic(DECISIONS.name(settings))
        self.control = self._raw_topic(self.control_topic)
        self.dlq = self._raw_topic(FRAMES_DLQ.name(settings))
        self.ticks = self.app.topic(DECIDE_TICKS.name(settings), internal=True,
                                    partitions=settings.kafka.partitions, key_serializer="raw",
                                    value_serializer="json")
        tables = {
            name: self.app.Table(name, partitions=settings.kafka.partitions,
                                 schema=faust.Schema(key_serializer="json",
                                                     value_serializer="json"))
            for name in DECIDE_TABLES
        }
        for changelog, table in zip(DECIDE_CHANGELOGS, tables.values(), strict=True):
            # The worker pre-creates them under the flow table's names (create_topics).
            if table.changelog_topic.get_topic_name() != changelog.name(settings):
                raise RuntimeError(f"unexpected changelog topic name for table {table.name}")
        self.decider = Decider(tables["pending"], tables["decided"], tables["clients"],
                               self.policy.current, settings.decide.deadline_ms)
        self.step = DecideStep(settings, self.decider)
        self._tick_sent: dict[int, float] = {}
        self.app.agent(self.sources, name=f"{STAGE}-results")(self._results_agent)
        self.app.agent(self.ticks, name=f"{STAGE}-ticks")(self._ticks_agent)
        self.app.task(self._log_start)
        self.recovered = threading.Event()
        self.app.task(self._recovered)
        interval = min(1.0, max(0.1, settings.decide.deadline_ms / 4000))
        self.app.timer(interval, name=f"{STAGE}-deadline")(self._deadline_timer)
        self.app.timer(settings.decide.decided_sweep_interval_s, name=f"{STAGE}-sweep")(
            self._sweep_timer)

    @staticmethod
    def _make_app(settings: Settings, web_port: int) -> faust.App:
        brokers = [f"kafka://{server.strip()}" for server in settings.kafka.bootstrap.split(",")]
        datadir = settings.deployment.state_dir / "decide"
        datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
        return faust.App(
            DECIDE_STAGE.group(settings),
            broker=brokers,
            store="memory://",
            datadir=str(datadir),
            autodiscover=False,
            topic_partitions=settings.kafka.partitions,
            # Every topic exists before the worker starts (DecideWorker.run); Faust
            # only declares them, with the copies every other topic has.
            topic_replication_factor=cluster_durability(settings).replicas,
            table_standby_replicas=0,  # the memory store recovers from the changelog anyway
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            consumer_auto_offset_reset="earliest",
            web_enabled=web_port > 0,
            web_bind="127.0.0.1",
            web_host="127.0.0.1",
            web_port=web_port if web_port > 0 else 6066,
        )

    def _raw_topic(self, *names: str) -> Any:
        """An existing topic of the flow, bytes in and out (the serializers validate)."""
        return self.app.topic(*names, key_serializer="raw", value_serializer="raw")

    def healthy(self) -> bool:
        """For /healthz: the app started, has not crashed, and has recovered its tables.

        Until the first recovery completes the worker decides nothing; `vigil up` says it is
        ready only after that. (A restart over a long changelog recovered for 15 s after
        the stack said ready, and the first 26 clients' frames waited 4-6 s.) /healthz runs
        on another thread, so it reads a flag the app's own loop sets (:meth:`_recovered`):
        touching Faust's tables from that thread left a restarted worker stuck before it
        joined its group."""
        return bool(self.app.started and not self.app.crashed and self.recovered.is_set())

    async def _recovered(self) -> None:
        """Set ``recovered`` once the tables' first recovery is complete (an app task)."""
        await self.app.tables.recovery.completed.wait()  # type: ignore[attr-defined]
        self.recovered.set()
        log.info("decide stage tables recovered: healthy")

    def _active_partitions(self) -> set[int]:
        return {tp.partition for tp in self.app.consumer.assignment()
                if tp.topic == self.face_topic}

    async def _log_start(self) -> None:
        log.info("decide stage started app_id=%s policy=%s version=%s deadline_ms=%d "
                 "partitions=%d", DECIDE_STAGE.group(self.settings), self.policy.path,
                 self.policy.current().version, self.settings.decide.deadline_ms,
                 self.settings.kafka.partitions)

    # --- agents (table writes happen only here) -------------------------------------------
    async def _results_agent(self, stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                await self._on_result(msg.topic, msg.partition, msg.offset, msg.key,
                                      event.value)
            except Exception:
                log.exception("decide failed on %s[%d]@%d", msg.topic, msg.partition,
                              msg.offset)
                raise

    async def _on_result(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes
    ) -> None:
        where = f"{topic}[{partition}]@{offset}"
        try:
            outcome = self.step.on_message(topic, partition, value)
        except ContractError as exc:
            await self.dlq.send(key=key, value=value,
                                headers=dead_letter_headers(None, str(exc), STAGE, where))
            record_dead_letter(STAGE, where, str(exc))
            return
        if outcome is not None:
            await self._publish(outcome)

    async def _ticks_agent(self, stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            self._tick_sent.pop(partition, None)
            try:
                await self._on_tick(partition, (event.value or {}).get("kind"))
            except Exception:
                log.exception("decide failed on %s[%d]@%d", event.message.topic, partition,
                              event.message.offset)
                raise

    async def _on_tick(self, partition: int, kind: str | None) -> None:
        for outcome in self.step.on_tick(partition, kind):
            await self._publish(outcome)

    async def _publish(self, outcome: Outcome) -> None:
        decision = outcome.decision
        await self.decisions.send(key=decision.client_id.encode(),
                                  value=DECISIONS.serializer.dumps(decision))
        record_decision(decision)
        if outcome.block:
            await block_client(self.settings, self.control, decision.client_id,
                               block_reason(decision), decision.decided_at)

    # --- timers (read-only on tables; they send ticks) ------------------------------------
    async def _deadline_timer(self) -> None:
        try:
            self.policy.current()  # picks up a policy edit even while no results arrive
            if self.app.rebalancing:
                return
            now = time.monotonic()
            for partition in self.decider.overdue_partitions() & self._active_partitions():
                if now - self._tick_sent.get(partition, float("-inf")) < TICK_RESEND_S:
                    continue
                self._tick_sent[partition] = now
                await self.ticks.send(key=b"deadline", value={"kind": "deadline"},
                                      partition=partition)
        except Exception:  # a timer that raises stops for good; log and try next time
            log.exception("deadline timer failed stage=%s", STAGE)

    async def _sweep_timer(self) -> None:
        try:
            if self.app.rebalancing:
                return
            ttl_ms = self.settings.decide.decided_frames_ttl_s * 1000
            for partition in self.decider.expired_partitions(ttl_ms) & self._active_partitions():
                await self.ticks.send(key=b"sweep", value={"kind": "sweep"}, partition=partition)
        except Exception:
            log.exception("sweep timer failed stage=%s", STAGE)
