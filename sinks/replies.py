"""The replies sink: each decision to the Redis channel of the gateway holding the client.

The replies stage of vigil/core/flow.py, on ``decisions``. For each decision the sink looks up the
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

Redis is a cache (control/cluster/redis_epoch.py). While it does not answer, the sink waits for it
(up to ``REDIS_WAIT_S``, then the process exits and is restarted) rather than losing the
batch. After it restarted empty, the sink routes nothing until a gateway wrote its sessions
back (it waits up to ``heartbeat_ttl_s``), so no decision is dropped or held for want of a
session that is about to return. The claim and the publish are one script, so a connection
lost between them cannot leave a claimed frame unpublished; a gateway that does not listen on
its channel (it is resubscribing, or dead) gets the decision again for up to
``NO_LISTENER_WAIT_S`` per batch, then it is dropped (``no_listener``).
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum

import redis
from confluent_kafka import Message, Producer

from control.cluster import redis_keys as keys
from control.cluster.redis_epoch import EpochWatch
from schemas.events import Action, Decision
from sinks.files import UnsafePathError, safe_id
from vigil.core import metrics
from vigil.core.flow import DECISIONS, REPLIES_STAGE
from vigil.core.flow_types import BatchHandler, Stage, StageIO
from vigil.core.settings import Settings
from vigil.core.stage_loop import decode_or_dead_letter, where

log = logging.getLogger(__name__)
STAGE = REPLIES_STAGE.name
HELD_LIMIT = 16  # held decisions kept per client: enough to act on, bounded for a flood
REDIS_WAIT_S = 120.0
REDIS_RETRY_S = 0.5
NO_LISTENER_WAIT_S = 2.0  # per batch, for a gateway resubscribing its reply channel

# KEYS: replied marker, reply channel. ARGV: gateway_id, marker TTL (s), Decision JSON.
# Returns the number of receivers (none: the claim is released), or -1 when already claimed.
_CLAIM_AND_PUBLISH = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return -1 end
local receivers = redis.call('PUBLISH', KEYS[2], ARGV[3])
if receivers == 0 then redis.call('DEL', KEYS[1]) end
return receivers
"""

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
    NO_LISTENER = "no_listener"


class ReplySink(BatchHandler):
    """Publishes decisions to gateways; see the module docstring."""

    def __init__(self, settings: Settings, io: StageIO | None = None,
                 client: redis.Redis | None = None) -> None:
        io = io or StageIO()
        self.settings = settings
        self.redis = client or redis.Redis.from_url(settings.redis.url, socket_timeout=5)
        self._route = self.redis.register_script(_ROUTE)
        self._claim_and_publish = self.redis.register_script(_CLAIM_AND_PUBLISH)
        self.epoch = EpochWatch(self.redis, settings.deployment.namespace)
        self.dlq: Producer = io.producer(settings)
        self.stop = io.stop

    def close(self) -> None:
        """Deliver the dead letters, close Redis."""
        self.dlq.flush(10)
        self.redis.close()

    def handle(self, batch: list[Message]) -> None:
        """Publish the batch's decisions; the loop commits when this returns."""
        listener_deadline = time.monotonic() + NO_LISTENER_WAIT_S
        for msg, decision in decode_or_dead_letter(batch, DECISIONS.serializer, self.dlq,
                                                   self.settings,
                                                   STAGE):
            outcome = self._reply_when_redis_answers(decision, where(msg))
            while (outcome is ReplyOutcome.NO_LISTENER and time.monotonic() < listener_deadline
                   and not self.stop.wait(REDIS_RETRY_S)):
                outcome = self._reply_when_redis_answers(decision, where(msg))
            if outcome in (ReplyOutcome.SENT, ReplyOutcome.MOVED):
                metrics.SINK_OUTPUTS.labels(STAGE, "published").inc()
            elif outcome is ReplyOutcome.HELD:
                metrics.SINK_OUTPUTS.labels(STAGE, "held").inc()
            else:
                metrics.FRAMES_DROPPED.labels(STAGE, outcome.value).inc()

    def _reply_when_redis_answers(self, decision: Decision, source: str) -> ReplyOutcome:
        deadline = time.monotonic() + REDIS_WAIT_S
        while True:
            try:
                return self.reply(decision, source)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if time.monotonic() > deadline or self.stop.is_set():
                    raise
                log.warning("replies wait for Redis url=%s source=%s error=%s",
                            self.settings.redis.url, source, exc)
                self.stop.wait(REDIS_RETRY_S)

    def gateway_of(self, decision: Decision, source: str) -> tuple[str | None, ReplyOutcome]:
        """The gateway to send the decision to, or None and what happened instead."""
        if self.epoch.rebuilding():
            # Redis restarted empty: the gateways are about to write their sessions back.
            self.epoch.wait_rebuilt(self.settings.control.heartbeat_ttl_s, self.stop)
        ns = self.settings.deployment.namespace
        allow = decision.action is Action.ALLOW
        route = [_text(part) for part in self._route(
            keys=[keys.session_key(ns, decision.client_id),
                  keys.replied_key(ns, decision.frame_id), keys.held_key(ns, decision.client_id)],
            args=[DECISIONS.serializer.dumps(decision), "1" if allow else "0",
                  self.settings.sinks.reply_dedupe_ttl_s, self.settings.sinks.held_decisions_ttl_s,
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
        ns = self.settings.deployment.namespace
        receivers = int(self._claim_and_publish(
            keys=[keys.replied_key(ns, decision.frame_id), keys.reply_channel(ns, gateway)],
            args=[gateway, self.settings.sinks.reply_dedupe_ttl_s,
                  DECISIONS.serializer.dumps(decision)]))
        if receivers < 0:
            log.info("reply skipped: frame already replied source=%s frame_id=%s", source,
                     decision.frame_id)
            return ReplyOutcome.DUPLICATE
        if receivers == 0:
            log.warning("reply not delivered: gateway %s does not listen source=%s "
                        "client_id=%s frame_id=%s", gateway, source, decision.client_id,
                        decision.frame_id)
            return ReplyOutcome.NO_LISTENER
        return outcome


def build(_entry: Stage, settings: Settings, io: StageIO) -> ReplySink:
    """The flow table's builder."""
    return ReplySink(settings, io)
