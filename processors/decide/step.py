"""What the decide stage does with one message or one tick, apart from how they arrive.

The Faust app (app.py) runs a :class:`DecideStep` in its agents and sends what comes out; the
in-memory harness runs the same step in a handler (vigil/testing/decide.py). Both publish a
decision through :func:`record_decision` and block through blocking.py.
"""

from __future__ import annotations

import logging

from processors.decide.decider import Decider, Outcome
from schemas.events import Decision
from vigil.core import metrics
from vigil.core.flow import CONTROL, DECIDE_STAGE, FACE_RESULTS, PHONE_RESULTS
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

STAGE = DECIDE_STAGE.name
# Decided frame_ids forgotten per partition and sweep: a 60 s sweep of every expired one at
# once (1,500 at 26 frames/s, more after a restart) held the loop and sent p95 from 1.0 to
# 2.7 s for the seconds it took (README, issue 11); what is left waits for the next sweep.
SWEEP_LIMIT = 300


class DecideStep:
    """Routes a message of the decide stage's inputs to the :class:`Decider`."""

    def __init__(self, settings: Settings, decider: Decider) -> None:
        self.settings = settings
        self.decider = decider
        self.face_topic = FACE_RESULTS.name(settings)
        self.phone_topic = PHONE_RESULTS.name(settings)
        self.control_topic = CONTROL.name(settings)

    def on_message(self, topic: str, partition: int, value: bytes | None) -> Outcome | None:
        """A result or control event; the Outcome to publish when a frame is decided.

        Raises ContractError for a message that breaks its topic's contract (the caller
        dead-letters it)."""
        if topic == self.control_topic:
            self.decider.on_control(CONTROL.serializer.loads(value))
            return None
        if topic == self.face_topic:
            outcome = self.decider.on_result("face", FACE_RESULTS.serializer.loads(value),
                                             partition)
        else:
            outcome = self.decider.on_result("phone", PHONE_RESULTS.serializer.loads(value),
                                             partition)
        metrics.MESSAGES_PROCESSED.labels(STAGE).inc()
        return outcome

    def on_tick(self, partition: int, kind: str | None) -> list[Outcome]:
        """A tick into ``partition``: its overdue frames decided (and on a sweep tick, its
        old decided frames forgotten)."""
        outcomes = list(self.decider.on_deadline(partition))
        if kind == "sweep":
            forgotten = self.decider.sweep(
                self.settings.decide.decided_frames_ttl_s * 1000, partition, limit=SWEEP_LIMIT
            )
            log.info("decided frames swept partition=%d forgotten=%d", partition, forgotten)
        return outcomes


def record_decision(decision: Decision) -> None:
    """Count and log a decision once it is sent."""
    metrics.DECISIONS_TOTAL.labels(decision.action.value, decision.reason.value).inc()
    metrics.END_TO_END_LATENCY.observe(max(0, decision.decided_at - decision.received_at) / 1000)
    log.info("decision frame_id=%s client_id=%s action=%s reason=%s missing=%s policy=%s",
             decision.frame_id, decision.client_id, decision.action.value,
             decision.reason.value, ",".join(decision.missing) or "-", decision.policy_version)


def block_reason(decision: Decision) -> str:
    """Why an escalated decision blocks its client (the control event's reason)."""
    return (f"escalation: {decision.reason.value} on frame {decision.frame_id}, "
            f"policy {decision.policy_version}")
