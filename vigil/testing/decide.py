"""The decide stage's step as a handler, for the in-memory harness (harness.py).

Deployed, the decide stage is a Faust app (processors/decide/app.py): Faust delivers the
messages, keeps the tables in changelog-backed stores and sends what comes out. Here the same
:class:`~processors.decide.step.DecideStep` and :class:`~processors.decide.decider.Decider`
run on plain dicts, messages come in batches from in-memory topics, and deadline ticks are
:meth:`DecideHandler.tick` calls, so decide is tested without a broker. What differs from the
app is only the delivery: table recovery and rebalances are the broker tests' to prove.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Message

from processors.decide.blocking import block_or_event
from processors.decide.decider import Decider, Outcome
from processors.decide.policy_file import PolicyReloader, policy_path
from processors.decide.step import STAGE, DecideStep, block_reason, record_decision
from schemas.events import now_ms
from schemas.serializers import ContractError
from vigil.core.flow import CONTROL, DECISIONS
from vigil.core.flow_types import BatchHandler, StageIO
from vigil.core.settings import Settings
from vigil.core.stage_loop import dead_letter


class DecideHandler(BatchHandler):
    """Decides each batch of results and control events; see the module docstring."""

    def __init__(self, settings: Settings, io: StageIO,
                 clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.policy = PolicyReloader(policy_path(settings), settings,
                                     settings.decide.policy_check_interval_s)
        self.tables: dict[str, dict[Any, Any]] = {"pending": {}, "decided": {}, "clients": {}}
        self.decider = Decider(self.tables["pending"], self.tables["decided"],
                               self.tables["clients"], self.policy.current,
                               settings.decide.deadline_ms, clock)
        self.step = DecideStep(settings, self.decider)
        self.producer = io.producer(settings)

    def handle(self, batch: list[Message]) -> None:
        """Each message to the step; decisions, blocks and dead letters produced and flushed."""
        for msg in batch:
            try:
                outcome = self.step.on_message(str(msg.topic()), int(msg.partition() or 0),
                                               msg.value())
            except ContractError as exc:
                dead_letter(self.producer, self.settings, msg, str(exc), STAGE)
                continue
            if outcome is not None:
                self.publish(outcome)
        self.producer.flush(30)

    def tick(self, partition: int, kind: str = "deadline") -> None:
        """What the app's deadline (or sweep) tick into ``partition`` does."""
        for outcome in self.step.on_tick(partition, kind):
            self.publish(outcome)
        self.producer.flush(30)

    def publish(self, outcome: Outcome) -> None:
        decision = outcome.decision
        self.producer.produce(DECISIONS.name(self.settings), key=decision.client_id,
                              value=DECISIONS.serializer.dumps(decision))
        record_decision(decision)
        if outcome.block:
            event = block_or_event(self.settings, decision.client_id, block_reason(decision),
                                   decision.decided_at)
            if event is not None:
                self.producer.produce(CONTROL.name(self.settings), key=decision.client_id,
                                      value=CONTROL.serializer.dumps(event))
