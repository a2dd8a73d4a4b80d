"""The WebSocket gateway: protocol v1 sessions, admission, frames to Kafka, replies back.

One :class:`Gateway` per process (tests run several in one process). Its parts:

- the HTTP front (ingest/http_front.py): the browser client's page on the same port, and the
  Origin and per-address checks before a WebSocket handshake;
- the handshake (hello within ``hello_timeout_s``, authentication, admission and queueing);
- the frame path (ingest/frame_path.py): rate and in-flight limits, produce to ``{ns}.frames``;
- the listeners (ingest/listeners.py): decisions on ``{ns}:replies:{gateway_id}``, control
  events from Redis and Kafka;
- a tick every third of ``heartbeat_ttl_s`` (ingest/upkeep.py): slot and session-hash
  refresh (a crashed gateway's slots lapse after the TTL), capacity drops (closing the newest
  sessions with 1013), sessions replaced by a newer one elsewhere, in-flight timeouts, and
  the write-back of its state after Redis lost its data;
- the outbox (control/events/outbox.py): control events stored while Redis or Kafka was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections import OrderedDict

import redis.asyncio as aioredis
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from control.clients_file import ClientsFileWatcher
from control.cluster import redis_keys as keys
from control.cluster.admission import AdmissionController, AdmissionResult
from control.cluster.heartbeat import Heartbeat, new_process_id
from control.events.outbox import OutboxDrainer, outbox_loop
from control.users.db import UserRepository
from control.users.repository import open_repository
from ingest import protocol
from ingest.auth import Authenticator
from ingest.frame_path import FramePath
from ingest.http_front import HttpFront
from ingest.listeners import KafkaControlListener, listen_redis
from ingest.producer import FrameProducer
from ingest.protocol import CloseCode, ProtocolError
from ingest.session import Session, deliver_held
from ingest.upkeep import SessionUpkeep
from schemas.events import Action, ControlEvent, ControlKind, Decision, now_ms
from vigil.core.background import BackgroundLoop, BackgroundTasks
from vigil.core.flow import GATEWAY_STAGE
from vigil.core.settings import Settings

log = logging.getLogger(__name__)
TASK_STOP_S = 5.0  # how long stop() waits for each cancelled background task
CLOSE_WAIT_S = 15.0  # how long stop() waits for connection handlers after closing sessions

SEEN_EVENTS = 1024
REDIS_DOWN = "try again later: Redis is unavailable"
TOKEN_REPLACED = "token replaced: sign in with the new token"
# Mark the session ended (processors skip its frames still in Kafka), and delete the session
# hash only while it still names this session (a newer one may own it).
_RELEASE_SESSION = """
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
if redis.call('HGET', KEYS[1], 'session_id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _close_reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")


class Gateway:
    """One gateway process's server; :meth:`start` then :meth:`stop`."""

    def __init__(self, settings: Settings, gateway_id: str | None = None) -> None:
        self.settings = settings
        self.gateway_id = gateway_id or new_process_id(GATEWAY_STAGE.name)
        self.sessions: dict[str, Session] = {}  # session_id -> session (queued or admitted)
        self.by_client: dict[str, Session] = {}  # client_id -> its admitted session
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._token_checks: set[asyncio.Task[None]] = set()
        self._background = BackgroundTasks()  # loops that log, count and retry their errors
        self._clients_file: ClientsFileWatcher | None = None
        self._stop = threading.Event()
        self._server: Server | None = None
        self.redis: aioredis.Redis = aioredis.Redis.from_url(settings.redis.url)
        self.repo: UserRepository | None = None
        self.producer = FrameProducer(settings, self.gateway_id)
        self.frames = FramePath(settings, self.producer)
        self.admission = AdmissionController(settings, self.redis)
        self.heartbeat = Heartbeat(settings, GATEWAY_STAGE.name, "cpu", 0, self.gateway_id)
        self._release = self.redis.register_script(_RELEASE_SESSION)
        self._kafka_control: KafkaControlListener | None = None
        self._outbox: OutboxDrainer | None = None
        self._upkeep: SessionUpkeep | None = None
        self.front = HttpFront(settings, self.healthy)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, subscribe, start the tick and listen on gateway_host:gateway_port."""
        loop = asyncio.get_running_loop()
        # Without the data key: the gateway reads token hashes and states, never faces.
        self.repo = await asyncio.to_thread(open_repository, self.settings, False)
        self.auth = Authenticator(self.settings, self.repo, self.redis)
        subscribed = asyncio.Event()  # set while the reply channel is subscribed
        self._upkeep = SessionUpkeep(self.settings, self.redis, self.repo, self.admission,
                                     self.gateway_id, subscribed)
        await asyncio.to_thread(self.heartbeat.start, self._stop)
        self.producer.start(loop)
        self._background.start(BackgroundLoop("redis-listener", lambda: listen_redis(
            self.settings, self.redis, self.gateway_id, self.on_decision, self.on_control,
            subscribed), interval_s=0))
        self._kafka_control = KafkaControlListener(self.settings, loop, self.on_control)
        self._kafka_control.start()
        self._background.start(self._upkeep.loop(self._admitted))
        self._outbox = OutboxDrainer(self.settings, self.repo, self.gateway_id)
        self._background.start(outbox_loop(self._outbox, self.settings.control.outbox_poll_s))
        if self.settings.control.clients_file is not None:
            self._clients_file = ClientsFileWatcher(self.settings, self.repo)
            self._background.start(self._clients_file.loop())
        await asyncio.wait_for(subscribed.wait(), 10)
        await self.tick()  # the client mirror and the epoch marker, before serving
        self._server = await serve(
            self._handle, self.settings.gateway.host, self.settings.gateway.port,
            ssl=self._ssl_context(), max_size=self.settings.gateway.max_frame_bytes,
            process_request=self.front, server_header=None)
        log.info("gateway listening url=%s gateway_id=%s", self.url, self.gateway_id)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.settings.gateway.tls_cert is None or self.settings.gateway.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.settings.gateway.tls_cert, self.settings.gateway.tls_key)
        return context

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return protocol.stream_url(self.settings, self.port)

    @property
    def page_url(self) -> str:
        return protocol.page_url(self.settings, self.port)

    def healthy(self) -> bool:
        stopped = self._background.stopped()
        if stopped:
            log.error("gateway unhealthy: background loops not running: %s", stopped)
        return self._server is not None and self.heartbeat.alive() and not stopped

    async def stop(self) -> None:
        """Take no new connections or frames, wait (up to ``gateway_drain_s``) for the
        decisions of frames in flight, close every session (1001), release their slots, stop
        the helpers."""
        if self._server is not None:
            self._server.close(close_connections=False)
            await self._drain()
            for session in list(self.sessions.values()):
                session.close(CloseCode.GOING_AWAY, "the gateway is stopping")
            try:
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_WAIT_S)
            except TimeoutError:
                log.warning("gateway stopping with connection handlers still running after "
                            "%.0f s: %d sessions", CLOSE_WAIT_S, len(self.sessions))
        await cancel_tasks(list(self._background.tasks.values()))
        if self._clients_file is not None:
            await self._clients_file.close()
        if self._kafka_control is not None:
            await asyncio.to_thread(self._kafka_control.close)
        self._stop.set()
        if self._outbox is not None:
            await asyncio.to_thread(self._outbox.close)
        await asyncio.to_thread(self.producer.close)
        await asyncio.to_thread(self.heartbeat.remove)
        await self.redis.aclose()
        if self.repo is not None:
            self.repo.close()
        log.info("gateway stopped gateway_id=%s", self.gateway_id)

    async def _drain(self) -> None:
        for session in self.sessions.values():
            session.draining = True
        deadline = asyncio.get_running_loop().time() + self.settings.gateway.drain_s
        while any(s.in_flight for s in self.by_client.values()):
            if asyncio.get_running_loop().time() >= deadline:
                log.warning("gateway stopping with %d frames still waiting for a decision",
                            sum(len(s.in_flight) for s in self.by_client.values()))
                return
            await asyncio.sleep(0.1)

    # -- one connection -------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        address = self.front.client_address(ws, ws.request)
        hello = await self._hello(ws)
        if hello is None:
            return
        try:
            result = await self.auth.check(hello, address)
        except aioredis.RedisError as exc:
            log.error("hello not checked client_id=%s redis=%s error=%s", hello.client_id,
                      self.settings.redis.url, exc)
            await ws.close(CloseCode.TRY_AGAIN_LATER, REDIS_DOWN)
            return
        if not result.ok:
            await ws.close(CloseCode.POLICY, _close_reason(result.reason))
            return
        session = Session(ws, hello.client_id, self.settings.gateway.max_fps)
        session.paused = result.paused
        session.token_hash = result.token_hash
        self.sessions[session.session_id] = session
        session.start_writer()
        try:
            if await self._admit(session, result.state_reason):
                await self.frames.serve(session)
        except aioredis.RedisError as exc:
            log.error("admission failed client_id=%s redis=%s error=%s", session.client_id,
                      self.settings.redis.url, exc)
            session.close(CloseCode.TRY_AGAIN_LATER, REDIS_DOWN)
        except ConnectionClosed as exc:
            # The client went away; the finally block frees everything.
            log.info("connection closed session_id=%s client_id=%s code=%s", session.session_id,
                     session.client_id, exc.rcvd.code if exc.rcvd else None)
        finally:
            await self._release_session(session)

    async def _hello(self, ws: ServerConnection) -> protocol.Hello | None:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.settings.gateway.hello_timeout_s)
            return protocol.parse_hello(raw)
        except TimeoutError:
            await ws.close(CloseCode.PROTOCOL_ERROR, "no hello within "
                           f"{self.settings.gateway.hello_timeout_s:g} s")
        except ProtocolError as exc:
            await ws.close(CloseCode.PROTOCOL_ERROR, _close_reason(f"bad hello: {exc}"))
        except ConnectionClosed:
            log.info("connection closed before its hello remote=%s", ws.remote_address)
        return None

    async def _admit(self, session: Session, state_reason: str) -> bool:
        """Admit the session, queueing it (position updates) while the system is full."""
        last_position = 0
        while not session.closing:
            admission = await self.admission.enter(session.session_id)
            if admission.result is AdmissionResult.ADMITTED:
                break
            if admission.result is AdmissionResult.FULL:
                session.close(CloseCode.TRY_AGAIN_LATER, "system full")
                return False
            if admission.position != last_position:
                session.send(protocol.queued(admission.position))
                last_position = admission.position
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    session.ws.wait_closed(), self.settings.gateway.admission_poll_s
                )
                return False
        if session.closing:
            return False
        held = await self._take_over(session)
        session.send(protocol.welcome(session.session_id, self.settings.gateway.max_fps,
                                      self.settings.gateway.max_frame_bytes))
        if session.paused:
            session.send(protocol.status("paused", state_reason))
        deliver_held(session, held)
        log.info("session admitted client_id=%s session_id=%s paused=%s", session.client_id,
                 session.session_id, session.paused)
        return True

    async def _take_over(self, session: Session) -> list[bytes]:
        """Record this gateway as the client's, closing an older session of the client.

        Returns the decisions held for the client while it had no session (sinks/replies.py),
        taken in the same transaction that makes this session the client's.
        """
        older = self.by_client.get(session.client_id)
        if older is not None:
            older.close(CloseCode.POLICY, "replaced by a newer session")
        self.by_client[session.client_id] = session
        session.admitted = True
        session.admitted_at = now_ms()
        key = keys.session_key(self.settings.deployment.namespace, session.client_id)
        held = keys.held_key(self.settings.deployment.namespace, session.client_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={keys.SESSION_GATEWAY_FIELD: self.gateway_id,
                                    keys.SESSION_ID_FIELD: session.session_id,
                                    "admitted_at": str(session.admitted_at)})
            pipe.pexpire(key, int(self.settings.control.heartbeat_ttl_s * 1000))
            pipe.lrange(held, 0, -1)
            pipe.delete(held)
            replies = await pipe.execute()
        return list(replies[3])

    async def _release_session(self, session: Session) -> None:
        session.closing = True
        self.sessions.pop(session.session_id, None)
        if self.by_client.get(session.client_id) is session:
            del self.by_client[session.client_id]
        try:
            await self.admission.leave(session.session_id)
            ns = self.settings.deployment.namespace
            await self._release(
                keys=[
                    keys.session_key(ns, session.client_id),
                    keys.ended_session_key(ns, session.session_id),
                ],
                args=[session.session_id, self.settings.processors.ended_session_ttl_s],
            )
        except aioredis.RedisError as exc:
            log.error(
                "could not free session_id=%s in Redis (it lapses after the TTL): %s",
                session.session_id,
                exc,
            )
        await session.finish_writer(timeout_s=2.0)
        log.info("session ended client_id=%s session_id=%s", session.client_id,
                 session.session_id)

    # -- events ---------------------------------------------------------------------------
    def on_decision(self, decision: Decision) -> None:
        """A decision from the reply channel: to the client's session, in order.

        A decision of the client's previous session reaches the current one unless it is an
        ``allow`` (the replies sink sends only those that moved; see sinks/replies.py).
        """
        session = self.by_client.get(decision.client_id)
        if session is None or (session.session_id != decision.session_id
                               and decision.action is Action.ALLOW):
            log.info("decision for no live session client_id=%s frame_id=%s",
                     decision.client_id, decision.frame_id)
            return
        if not session.first_reply(decision.frame_id):
            log.info("repeated decision not sent again client_id=%s frame_id=%s",
                     decision.client_id, decision.frame_id)
            return
        session.in_flight.pop(decision.frame_id, None)
        for message in protocol.replies(decision):
            session.send(message)

    def on_control(self, event: ControlEvent) -> None:
        """Apply a control event to the client's sessions here (each event once)."""
        if event.event_id in self._seen:
            return
        self._seen[event.event_id] = None
        while len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        for session in [s for s in self.sessions.values() if s.client_id == event.client_id]:
            apply_control(session, event)
        if event.kind is ControlKind.TOKEN_ISSUED:
            task = asyncio.create_task(self._end_sessions_of_old_tokens(event.client_id),
                                       name=f"token-check-{event.client_id}")
            self._token_checks.add(task)
            task.add_done_callback(self._token_checks.discard)

    async def _end_sessions_of_old_tokens(self, client_id: str) -> None:
        """A new token was issued: sessions opened with an earlier one close (a stolen token's
        session must not outlive its replacement); one opened with the new token stays."""
        try:
            current = await self.auth.current_token_hash(client_id)
        except Exception:  # any database error: close rather than keep a session unchecked
            log.exception("token check failed client_id=%s: closing its sessions", client_id)
            current = None
        for session in [s for s in self.sessions.values() if s.client_id == client_id]:
            if session.token_hash != current:
                log.info("session closed: token replaced client_id=%s session_id=%s",
                         client_id, session.session_id)
                session.close(CloseCode.POLICY, TOKEN_REPLACED)

    # -- tick -----------------------------------------------------------------------------
    async def tick(self) -> bool:
        """One upkeep tick now (ingest/upkeep.py)."""
        assert self._upkeep is not None, "start() first"
        return await self._upkeep.tick(self._admitted())

    def _admitted(self) -> list[Session]:
        return [s for s in self.by_client.values() if not s.closing]


def apply_control(session: Session, event: ControlEvent) -> None:
    """What a control event means for one open session."""
    if event.kind is ControlKind.BLOCKED:
        session.send(protocol.status("blocked", event.reason))
        session.close(CloseCode.POLICY, _close_reason(f"blocked: {event.reason}".rstrip(": ")))
    elif event.kind is ControlKind.TOKEN_REVOKED:
        session.close(CloseCode.POLICY, "token revoked")
    elif event.kind is ControlKind.FORGOTTEN:
        session.close(CloseCode.POLICY, "biometric data erased: enroll again")
    elif event.kind is ControlKind.PAUSED and not session.paused:
        session.paused = True
        session.send(protocol.status("paused", event.reason))
    elif event.kind is ControlKind.RESUMED and session.paused:
        session.paused = False
        session.send(protocol.status("resumed", event.reason))


async def cancel_tasks(tasks: list[asyncio.Task[None]], timeout_s: float = TASK_STOP_S) -> None:
    """Cancel the gateway's background tasks and wait for them, bounded in time.

    A cancellation that lands while a Redis read times out can be swallowed by the client
    library (redis-py's pub/sub read; a full test run once saw a gateway that never stopped),
    so a task still running after ``timeout_s`` is cancelled again, once."""
    for attempt in (1, 2):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, still = await asyncio.wait(pending, timeout=timeout_s)
        if still:
            log.warning("gateway tasks still running after cancel #%d: %s", attempt,
                        ", ".join(sorted(t.get_name() for t in still)))
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("gateway task %s had failed: %r", task.get_name(), task.exception())
