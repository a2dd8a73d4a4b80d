"""The replies sink: each decision to the Redis channel of the gateway holding the client.

Consumer group ``{ns}-replies`` on ``decisions``. For each decision the sink looks up the
client's session hash (which gateway holds the socket), claims the frame with
``SET {ns}:replied:{frame_id} NX EX ttl``, and publishes the Decision JSON to that gateway's
channel. A frame already claimed (a replay, or a decision produced twice) is not published
again. No session: dropped and counted (reason ``no_session``). A session whose id differs
from the decision's (the client reconnected since): dropped (reason ``stale_session``). The
batch is committed after its publishes.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

import redis
from confluent_kafka import Message, Producer

from control import redis_keys as keys
from schemas.events import Decision
from sinks.files import UnsafePathError, safe_id
from vigil.core import metrics
from vigil.core.kafka import group_name, make_producer
from vigil.core.settings import Settings
from vigil.core.stage_loop import LoopStage, StageLoop, decode_or_dead_letter, where
from vigil.core.topics import DECISIONS

log = logging.getLogger(__name__)
STAGE = "replies"


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class ReplyOutcome(StrEnum):
    SENT = "sent"
    NO_SESSION = "no_session"
    STALE_SESSION = "stale_session"
    BAD_SESSION = "bad_session"
    DUPLICATE = "duplicate"


class ReplySink:
    """Publishes decisions to gateways; see the module docstring."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None,
                 group_id: str | None = None, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.redis = client or redis.Redis.from_url(settings.redis_url)
        self.dlq: Producer = make_producer(settings)
        self.loop = StageLoop(settings, STAGE, [DECISIONS.name(settings)],
                              group_id or group_name(settings, STAGE), self.handle,
                              batch_size=settings.sink_batch_size,
                              stop=stop or threading.Event())

    def run(self) -> None:
        """Consume until the stop event is set, then close the clients."""
        try:
            self.loop.run()
        finally:
            self.dlq.flush(10)
            self.redis.close()

    def handle(self, batch: list[Message]) -> None:
        """Publish the batch's decisions; the loop commits when this returns."""
        for msg, decision in decode_or_dead_letter(batch, DECISIONS.serializer, self.dlq,
                                                   self.settings,
                                                   STAGE):
            outcome = self.reply(decision, where(msg))
            if outcome is ReplyOutcome.SENT:
                metrics.SINK_OUTPUTS.labels(STAGE, "published").inc()
            else:
                metrics.FRAMES_DROPPED.labels(STAGE, outcome.value).inc()

    def gateway_of(self, decision: Decision, source: str) -> tuple[str | None, ReplyOutcome]:
        """The gateway holding the decision's session, or None and why not."""
        ns = self.settings.namespace
        raw = self.redis.hgetall(keys.session_key(ns, decision.client_id))
        session = {_text(k): _text(v) for k, v in raw.items()}
        gateway = session.get(keys.SESSION_GATEWAY_FIELD)
        if not gateway:
            log.info("reply dropped: no session source=%s client_id=%s frame_id=%s", source,
                     decision.client_id, decision.frame_id)
            return None, ReplyOutcome.NO_SESSION
        session_id = session.get(keys.SESSION_ID_FIELD)
        if session_id is not None and session_id != decision.session_id:
            log.info("reply dropped: session %s is not the decision's %s source=%s "
                     "client_id=%s frame_id=%s", session_id, decision.session_id,
                     source, decision.client_id, decision.frame_id)
            return None, ReplyOutcome.STALE_SESSION
        try:
            return safe_id(gateway, "gateway_id"), ReplyOutcome.SENT
        except UnsafePathError as exc:
            log.error("reply dropped: %s source=%s client_id=%s", exc, source,
                      decision.client_id)
            return None, ReplyOutcome.BAD_SESSION

    def reply(self, decision: Decision, source: str) -> ReplyOutcome:
        """Publish one decision at most once per frame_id (within the dedupe TTL)."""
        gateway, outcome = self.gateway_of(decision, source)
        if gateway is None:
            return outcome
        ns = self.settings.namespace
        marker = keys.replied_key(ns, decision.frame_id)
        if not self.redis.set(marker, gateway, nx=True, ex=self.settings.reply_dedupe_ttl_s):
            log.info("reply skipped: frame already replied source=%s frame_id=%s", source,
                     decision.frame_id)
            return ReplyOutcome.DUPLICATE
        try:
            receivers = self.redis.publish(keys.reply_channel(ns, gateway),
                                           DECISIONS.serializer.dumps(decision))
        except redis.RedisError:
            # Not delivered: release the claim so the replayed batch can publish it.
            self.redis.delete(marker)
            log.error("reply publish failed source=%s frame_id=%s", source, decision.frame_id)
            raise
        if receivers == 0:
            log.warning("reply published with no subscriber source=%s gateway=%s frame_id=%s",
                        source, gateway, decision.frame_id)
        return ReplyOutcome.SENT


def build(settings: Settings) -> LoopStage:
    """The stage table's builder (vigil/core/stages.py)."""
    sink = ReplySink(settings)
    return LoopStage(sink.loop, sink.run)
