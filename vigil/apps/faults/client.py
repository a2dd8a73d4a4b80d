"""A client that keeps streaming through faults, and what became of each frame it sent.

:class:`SteadyClient` sends frames at a steady rate with a ``frame`` message before each
(its ``seq`` counts across sessions, so a reply names one frame for good), reads every server
message concurrently, and reconnects shortly after its session ends. A frame ends one way:

- decided: one decision names it (more than one is a duplicate);
- refused: an ``error`` names it (``rate_limited``, ``delivery_failed``, ``shutting_down``...);
- cut: its session ended (the server closed it, or the connection dropped) before either;
  the client learns it from the close, and its next session goes on;
- lost: none of these by the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

log = logging.getLogger(__name__)

RECONNECT_S = 0.5
WELCOME_TIMEOUT_S = 30.0


@dataclass
class FrameFate:
    """One frame the client sent, and what came back for it."""

    seq: int
    sent_at: float  # epoch seconds
    session: int  # which of the client's sessions (connections) carried it
    decisions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # codes of the errors naming it
    cut_by: str = ""  # how its session ended, when that came before any answer
    cut_at: float = 0.0  # when (epoch seconds)

    @property
    def answered(self) -> bool:
        return bool(self.decisions or self.errors)


@dataclass
class SessionEnd:
    at: float
    code: int | None
    reason: str


class SteadyClient:
    """Streams ``frames`` (cycled) at ``fps`` until :meth:`stop_sending`; see the module."""

    def __init__(self, url: str, client_id: str, token: str, frames: Sequence[bytes],
                 fps: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.client_id = client_id
        self.token = token
        self.frames = list(frames)
        self.period = 1.0 / fps
        self.ssl = ssl_context
        self.fates: dict[int, FrameFate] = {}
        self.ends: list[SessionEnd] = []
        self.sessions = 0
        self.sending = True
        self._closing = False
        self._next_seq = 1

    def stop_sending(self) -> None:
        self.sending = False

    def unanswered(self) -> list[FrameFate]:
        return [f for f in self.fates.values() if not f.answered and not f.cut_by]

    async def run(self, stop: asyncio.Event) -> None:
        """Sessions one after another until ``stop`` is set (then the open one closes)."""
        while not stop.is_set():
            try:
                await self._session(stop)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                log.info("client=%s could not connect: %s", self.client_id, exc)
            if not stop.is_set():
                await asyncio.sleep(RECONNECT_S)

    async def _session(self, stop: asyncio.Event) -> None:
        async with connect(self.url, ssl=self.ssl, max_size=2**22, open_timeout=5) as ws:
            self.sessions += 1
            session = self.sessions
            await ws.send(json.dumps({"type": "hello", "protocol": 1,
                                      "client_id": self.client_id, "token": self.token}))
            welcomed = asyncio.Event()
            receiver = asyncio.create_task(self._receive(ws, welcomed))
            try:
                await asyncio.wait_for(welcomed.wait(), WELCOME_TIMEOUT_S)
                await self._send(ws, session, stop)
            except (ConnectionClosed, TimeoutError):
                pass  # the server ended the session, or kept it queued too long
            finally:
                if stop.is_set():
                    self._closing = True  # the client ends it: unanswered frames are lost
                await ws.close()
                await asyncio.gather(receiver, return_exceptions=True)
            self._ended(ws, session)

    async def _send(self, ws: ClientConnection, session: int, stop: asyncio.Event) -> None:
        start = time.monotonic()
        sent = 0
        while not stop.is_set():
            if self.sending:
                seq = self._next_seq
                self._next_seq += 1
                jpeg = self.frames[(seq - 1) % len(self.frames)]
                now = time.time()
                self.fates[seq] = FrameFate(seq, now, session)
                await ws.send(json.dumps({"type": "frame", "seq": seq,
                                          "captured_at": int(now * 1000)}))
                await ws.send(jpeg)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * self.period - time.monotonic()))

    async def _receive(self, ws: ClientConnection, welcomed: asyncio.Event) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "welcome":
                    welcomed.set()
                elif kind == "decision" and message.get("seq") in self.fates:
                    self.fates[message["seq"]].decisions.append(message)
                elif kind == "error" and message.get("seq") in self.fates:
                    self.fates[message["seq"]].errors.append(str(message.get("code")))
                elif kind in ("error", "status"):
                    log.info("client=%s %s", self.client_id, message)

    def _ended(self, ws: ClientConnection, session: int) -> None:
        closed = ws.protocol.close_rcvd
        code = closed.code if closed is not None else None
        reason = closed.reason if closed is not None else "connection lost"
        self.ends.append(SessionEnd(time.time(), code, reason))
        if self._closing:
            return  # the client ended it: what is unanswered now is lost, not cut
        how = f"{code or 1006} {reason}".strip()
        for fate in self.fates.values():
            if fate.session == session and not fate.answered:
                fate.cut_by, fate.cut_at = how, self.ends[-1].at
        log.info("client=%s session %d ended: %s", self.client_id, session, how)
