"""The replies sink: each decision to the Redis channel of the gateway holding the client.

Consumer group ``{ns}-replies`` on ``decisions``. For each decision the sink looks up the
client's session hash (which gateway holds the socket), claims the frame with
``SET {ns}:replied:{frame_id} NX EX ttl``, and publishes the Decision JSON to that gateway's
channel. A frame already claimed (a replay, or a decision produced twice) is not published
again. The batch is committed after its publishes.

Sessions move: a client may reconnect between a frame and its decision.

- The client's session is another one than the decision's: a lock, sign-out or block still
  goes to the client's current session (``moved``): it is about the person at the keyboard,
  whichever socket they use now. An ``allow`` is dropped (``stale_session``): it vouches only
  for the session it was decided for.
- The client has no session: a non-allow decision is held in ``{ns}:held:{client_id}`` (at
  most ``HELD_LIMIT``, for ``held_decisions_ttl_s``) and the gateway hands it to the client's
  next session right after ``welcome``; an ``allow`` is dropped (``no_session``). Looking up
  the session and holding happen in one Lua script, and the gateway writes the session and
  takes the held decisions in one transaction, so a decision cannot fall between the two.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

import redis
from confluent_kafka import Message, Producer

from control import redis_keys as keys
from schemas.events import Action, Decision
from sinks.files import UnsafePathError, safe_id
from vigil.core import metrics
from vigil.core.kafka import group_name, make_producer
from vigil.core.settings import Settings
from vigil.core.stage_loop import LoopStage, StageLoop, decode_or_dead_letter, where
from vigil.core.topics import DECISIONS

log = logging.getLogger(__name__)
STAGE = "replies"
HELD_LIMIT = 16  # held decisions kept per client: enough to act on, bounded for a flood

# KEYS: session hash, replied marker, held list. ARGV: decision JSON, "1" for an allow,
# marker TTL, held TTL, HELD_LIMIT. Returns {"session", gateway, session_id} or {outcome}.
_ROUTE = """
local gateway = redis.call('HGET', KEYS[1], 'gateway_id')
if gateway then return {'session', gateway, redis.call('HGET', KEYS[1], 'session_id') or ''} end
if ARGV[2] == '1' then return {'no_session'} end
if not redis.call('SET', KEYS[2], 'held', 'NX', 'EX', ARGV[3]) then return {'duplicate'} end
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {'held'}
"""


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class ReplyOutcome(StrEnum):
    SENT = "sent"
    MOVED = "moved"
    HELD = "held"
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
        self._route = self.redis.register_script(_ROUTE)
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
            if outcome in (ReplyOutcome.SENT, ReplyOutcome.MOVED):
                metrics.SINK_OUTPUTS.labels(STAGE, "published").inc()
            elif outcome is ReplyOutcome.HELD:
                metrics.SINK_OUTPUTS.labels(STAGE, "held").inc()
            else:
                metrics.FRAMES_DROPPED.labels(STAGE, outcome.value).inc()

    def gateway_of(self, decision: Decision, source: str) -> tuple[str | None, ReplyOutcome]:
        """The gateway to send the decision to, or None and what happened instead."""
        ns = self.settings.namespace
        allow = decision.action is Action.ALLOW
        route = [_text(part) for part in self._route(
            keys=[keys.session_key(ns, decision.client_id),
                  keys.replied_key(ns, decision.frame_id), keys.held_key(ns, decision.client_id)],
            args=[DECISIONS.serializer.dumps(decision), "1" if allow else "0",
                  self.settings.reply_dedupe_ttl_s, self.settings.held_decisions_ttl_s,
                  HELD_LIMIT])]
        if route[0] != "session":
            log.info("reply %s: no session source=%s client_id=%s frame_id=%s action=%s",
                     "held for the next session" if route[0] == "held" else "dropped", source,
                     decision.client_id, decision.frame_id, decision.action.value)
            return None, ReplyOutcome(route[0])
        gateway, session_id = route[1], route[2]
        outcome = ReplyOutcome.SENT
        if session_id and session_id != decision.session_id:
            if allow:
                log.info("reply dropped: session %s is not the decision's %s source=%s "
                         "client_id=%s frame_id=%s", session_id, decision.session_id,
                         source, decision.client_id, decision.frame_id)
                return None, ReplyOutcome.STALE_SESSION
            log.info("reply moved to the client's current session %s from %s source=%s "
                     "client_id=%s frame_id=%s action=%s", session_id, decision.session_id,
                     source, decision.client_id, decision.frame_id, decision.action.value)
            outcome = ReplyOutcome.MOVED
        try:
            return safe_id(gateway, "gateway_id"), outcome
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
        return outcome


def build(settings: Settings) -> LoopStage:
    """The stage table's builder (vigil/core/stages.py)."""
    sink = ReplySink(settings)
    return LoopStage(sink.loop, sink.run)
