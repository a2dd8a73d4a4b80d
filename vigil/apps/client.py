"""The reference client of protocol v1: streams images as webcam-like JPEG frames.

`vigil client --client-id ID --token T IMAGE_OR_DIR... [--fps 2]` letterboxes each image to a
640x480 frame, encodes it as JPEG (what a webcam client sends), streams it at the given rate
and prints every decision as it arrives. Other clients are written against ARCHITECTURE.md;
this one is also what the tests and `vigil bench e2e` use.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class StreamReport:
    """What one client session saw."""

    session_id: str | None = None
    sent: dict[int, float] = field(default_factory=dict)  # seq -> send time (epoch s)
    decisions: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> message
    # Locks and sign-outs decided for frames of this client's previous session.
    earlier_sessions: list[dict[str, Any]] = field(default_factory=list)
    latencies_s: dict[int, float] = field(default_factory=dict)  # seq -> reply - send
    statuses: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    challenges: list[dict[str, Any]] = field(default_factory=list)  # step-up challenges asked
    queued_positions: list[int] = field(default_factory=list)
    connected_at: float | None = None  # epoch s: the hello was sent
    welcomed_at: float | None = None  # epoch s: admitted (after waiting, if it was queued)
    queued_at: float | None = None  # epoch s: first told to wait in the queue
    close_code: int | None = None
    close_reason: str = ""

    @property
    def lost(self) -> list[int]:
        return sorted(set(self.sent) - set(self.decisions))

    @property
    def waited_s(self) -> float | None:
        """How long the session waited for capacity; None when it was never admitted."""
        if self.connected_at is None or self.welcomed_at is None:
            return None
        return self.welcomed_at - self.connected_at


def image_paths(items: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the images inside folders (sorted); raises for a missing path."""
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            paths += sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"no such image or folder: {item}")
    return paths


def webcam_frames(paths: Sequence[Path], quality: int = 80) -> list[bytes]:
    """Each image letterboxed to 640x480 and JPEG-encoded, as a webcam client sends it."""
    from processors.vision.imaging import read_image, webcam_jpeg

    return [webcam_jpeg(read_image(str(path)), quality=quality) for path in paths]


async def stream_frames(
    url: str,
    client_id: str,
    token: str,
    frames: Sequence[bytes],
    fps: float = 2.0,
    reply_timeout_s: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> StreamReport:
    """One session: hello, wait for welcome, send every frame at ``fps``, collect replies."""
    report = StreamReport()
    welcome = asyncio.Event()
    all_replied = asyncio.Event()
    try:
        async with connect(url, ssl=ssl_context, max_size=2**22) as ws:
            report.connected_at = time.time()
            await ws.send(json.dumps({"type": "hello", "protocol": 1, "client_id": client_id,
                                      "token": token}))

            async def receive() -> None:
                async for raw in ws:
                    message = json.loads(raw)
                    _record(report, message, welcome)
                    if on_message is not None:
                        on_message(message)
                    if report.sent and len(report.decisions) >= len(frames):
                        all_replied.set()

            receiver = asyncio.create_task(receive())
            waiter = asyncio.create_task(welcome.wait())
            try:
                await asyncio.wait({receiver, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if welcome.is_set():
                    await _send_all(ws, frames, fps, report)
                    # Every frame answered, or the server closed the session, or time is up.
                    replied = asyncio.create_task(all_replied.wait())
                    ended, _ = await asyncio.wait({replied, receiver}, timeout=reply_timeout_s,
                                                  return_when=asyncio.FIRST_COMPLETED)
                    replied.cancel()
                    if not ended:
                        log.warning("client=%s %d frames without a decision after %.0f s",
                                    client_id, len(report.lost), reply_timeout_s)
                    await ws.close()
            finally:
                # The server may close the session while frames are being sent (a block):
                # the receiver then ends with that close, which is reported, not raised.
                waiter.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
            report.close_code, report.close_reason = ws.close_code, ws.close_reason or ""
    except ConnectionClosed as exc:
        if exc.rcvd is not None:
            report.close_code, report.close_reason = exc.rcvd.code, exc.rcvd.reason
    return report


async def _send_all(ws: Any, frames: Sequence[bytes], fps: float, report: StreamReport) -> None:
    period = 1.0 / fps
    start = time.monotonic()
    for seq, jpeg in enumerate(frames, start=1):
        now = time.time()
        await ws.send(json.dumps({"type": "frame", "seq": seq, "captured_at": int(now * 1000)}))
        await ws.send(jpeg)
        report.sent[seq] = now
        await asyncio.sleep(max(0.0, start + seq * period - time.monotonic()))


def _record(report: StreamReport, message: dict[str, Any], welcome: asyncio.Event) -> None:
    kind = message.get("type")
    if kind == "welcome":
        report.session_id = message.get("session_id")
        report.welcomed_at = time.time()
        welcome.set()
    elif kind == "queued":
        report.queued_positions.append(int(message.get("position", -1)))
        report.queued_at = report.queued_at or time.time()
    elif kind == "decision" and message.get("session_id", report.session_id) != (
            report.session_id):
        report.earlier_sessions.append(message)
    elif kind == "decision":
        seq = int(message["seq"])
        report.decisions.setdefault(seq, message)
        if seq in report.sent:
            report.latencies_s.setdefault(seq, time.time() - report.sent[seq])
    elif kind == "status":
        report.statuses.append(message)
    elif kind == "error":
        report.errors.append(message)
    elif kind == "challenge":
        report.challenges.append(message)


_TURN_WORDS = {"turn_left": "to your left", "turn_right": "to your right"}


def challenge_line(message: dict[str, Any]) -> str:
    """A step-up challenge as one line a person can follow."""
    where = _TURN_WORDS.get(str(message.get("action")), str(message.get("action")))
    seconds = int(message.get("deadline_ms", 0)) / 1000
    return (f"CHALLENGE  turn your head {where} and back, within {seconds:.0f} s "
            f"(id {message.get('id')})")


# What the person at the camera can do about a poor picture (Decision.issues), and what a
# held session is waiting for; the browser page says the same (ingest/web/words.js).
ISSUE_HINTS = {
    "dark": "more light, please",
    "bright": "less light, please (a lamp or window behind or on the face)",
    "blurred": "hold still and clean the lens",
    "small": "come closer to the camera",
    "large": "move back from the camera",
}
VERIFYING_HINT = "verifying that the face is live: keep looking at the camera"


def decision_hint(message: dict[str, Any]) -> str:
    """What the user should do after a decision, or "" when there is nothing to do."""
    issues = message.get("issues") or []
    if message.get("reason") == "poor_quality" or issues:
        return "; ".join(ISSUE_HINTS.get(str(i), f"picture problem: {i}") for i in issues)
    if message.get("reason") == "verifying":
        return VERIFYING_HINT
    return ""


def print_message(message: dict[str, Any]) -> None:
    """The CLI's view of a server message: one line each (with a hint when there is one)."""
    if message.get("type") == "decision":
        scores = " ".join(f"{k}={v:.2f}" for k, v in sorted(message.get("scores", {}).items())
                          if isinstance(v, int | float))
        hint = decision_hint(message)
        challenge = message.get("challenge")
        step = (f" challenge={challenge.get('state')} {challenge.get('progress', 0):.0%}"
                f" {challenge.get('detail', '')}".rstrip() if isinstance(challenge, dict) else "")
        print(f"seq={message['seq']:<4} {message['action']:<11} {message['reason']:<15} "
              f"{scores}{step}{f'  -> {hint}' if hint else ''}", flush=True)
    elif message.get("type") == "challenge":
        print(challenge_line(message), flush=True)
    else:
        print(json.dumps(message), flush=True)
