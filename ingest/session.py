"""One client's session in the gateway: its outbox, rate limit, frames in flight and state.

Every message to the client goes through the session's outbox and one writer task, so
decisions, statuses and errors reach the client in the order they were queued, and a close
(for example after ``status: blocked``) happens after the messages before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ingest import protocol
from ingest.protocol import FrameInfo
from schemas.serializers import ContractError
from vigil.core.flow import DECISIONS, GATEWAY_STAGE
from vigil.core.metrics import FRAMES_DROPPED

log = logging.getLogger(__name__)

STAGE = GATEWAY_STAGE.name
OUTBOX_LIMIT = 512
ANSWERED_LIMIT = 4096  # frame_ids remembered per session against a repeated reply


class TokenBucket:
    """``rate`` events per second with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


class Session:
    """State of one connected client (admitted or still queued)."""

    def __init__(self, ws: ServerConnection, client_id: str, max_fps: float) -> None:
        self.ws = ws
        self.client_id = client_id
        self.session_id = uuid.uuid4().hex
        self.admitted = False
        self.admitted_at = 0  # epoch ms, once admitted
        self.paused = False
        self.token_hash = ""  # the token hash it was opened with (ingest/auth.py)
        self.closing = False
        self.draining = False  # the gateway is stopping: new frames are refused
        self.next_seq = 0
        self.pending: FrameInfo | None = None
        self.limiter = TokenBucket(max_fps)
        self.in_flight: OrderedDict[str, float] = OrderedDict()  # frame_id -> monotonic time
        self.answered: OrderedDict[str, None] = OrderedDict()  # recent frame_ids replied to
        self._outbox: asyncio.Queue[dict[str, Any] | _Close] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._close_queued = False

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"writer-{self.session_id}")

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message for the client; dropped (and counted) when the outbox is full."""
        if self.closing:
            return
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            FRAMES_DROPPED.labels(STAGE, "outbox_full").inc()
            log.warning("outbox full client_id=%s session_id=%s type=%s", self.client_id,
                        self.session_id, message.get("type"))

    def error(self, code: str, message: str, seq: int | None = None) -> None:
        self.send(protocol.error(code, message, seq))

    def close(self, code: int, reason: str) -> None:
        """Close after the messages already queued (no-op when already closing)."""
        if self.closing:
            return
        self.closing = True
        self._close_queued = True
        log.info("closing session client_id=%s session_id=%s code=%d reason=%s",
                 self.client_id, self.session_id, code, reason)
        try:
            self._outbox.put_nowait(_Close(code, reason))
        except asyncio.QueueFull:
            # The writer is stuck on a slow client: close past the queued messages.
            self._closer = asyncio.create_task(self.ws.close(code, reason))

    async def _write(self) -> None:
        try:
            while True:
                item = await self._outbox.get()
                if isinstance(item, _Close):
                    await self.ws.close(item.code, item.reason)
                    return
                await self.ws.send(protocol.dumps(item))
        except ConnectionClosed:
            return

    async def finish_writer(self, timeout_s: float) -> None:
        """Let a pending close go out (up to ``timeout_s``), then stop the writer."""
        if self._writer is None:
            return
        if self._close_queued and not self._writer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), timeout_s)
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)

    # -- frames ---------------------------------------------------------------------------
    def frame_numbers(self, received_at: int) -> tuple[int, int]:
        """(seq, captured_at) of the binary frame just received."""
        self.next_seq += 1
        info, self.pending = self.pending, None
        if info is None:
            return self.next_seq, received_at
        return info.seq, info.captured_at

    def expire_in_flight(self, timeout_s: float) -> int:
        """Forget frames that waited longer than ``timeout_s`` for a decision."""
        limit = time.monotonic() - timeout_s
        expired = 0
        while self.in_flight:
            frame_id, sent = next(iter(self.in_flight.items()))
            if sent >= limit:
                break
            del self.in_flight[frame_id]
            expired += 1
        return expired

    def admit_frame(self, max_in_flight: int, timeout_s: float) -> str | None:
        """Why the next frame must be dropped (rate or in-flight limit), or None."""
        if not self.limiter.take():
            return "over the frame rate limit"
        self.expire_in_flight(timeout_s)
        if len(self.in_flight) >= max_in_flight:
            return f"{max_in_flight} frames already wait for a decision"
        return None

    def first_reply(self, frame_id: str) -> bool:
        """Whether no decision for ``frame_id`` went to this client yet (then it counts as
        sent): the replies sink publishes once per frame, but its markers live in Redis,
        which may have lost them."""
        if frame_id in self.answered:
            FRAMES_DROPPED.labels(STAGE, "duplicate_reply").inc()
            return False
        self.answered[frame_id] = None
        while len(self.answered) > ANSWERED_LIMIT:
            self.answered.popitem(last=False)
        return True

    def drop(self, reason: str, error_code: str | None = None, message: str = "",
             seq: int | None = None) -> None:
        FRAMES_DROPPED.labels(STAGE, reason).inc()
        if error_code is not None:
            self.error(error_code, message, seq)


def deliver_held(session: Session, held: list[bytes]) -> None:
    """Send the decisions held while the client had no session (non-allow only)."""
    for raw in held:
        try:
            decision = DECISIONS.serializer.loads(raw)
        except ContractError as exc:
            log.warning("ignoring a bad held decision client_id=%s: %s", session.client_id, exc)
            continue
        log.info("held decision delivered client_id=%s session_id=%s frame_id=%s action=%s",
                 session.client_id, session.session_id, decision.frame_id,
                 decision.action.value)
        for message in protocol.replies(decision):
            session.send(message)
