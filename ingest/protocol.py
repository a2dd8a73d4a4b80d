"""Protocol v1 of ARCHITECTURE.md: parsing client messages and building server messages.

Pure functions only, so every rule is tested without a socket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from schemas.events import SAFE_ID_PATTERN, ChallengeProgress, Decision, now_ms
from schemas.serializers import JPEG_MAGIC

if TYPE_CHECKING:
    from vigil.core.settings import Settings

PROTOCOL_VERSION = 1
PATH = "/v1/stream"
_SAFE_ID = re.compile(SAFE_ID_PATTERN)
MAX_TOKEN_CHARS = 512


def stream_url(settings: Settings, port: int | None = None) -> str:
    """Where clients connect: ws(s)://GATEWAY_HOST:PORT/v1/stream (wss with a certificate)."""
    scheme = "wss" if settings.gateway.tls_cert is not None else "ws"
    return f"{scheme}://{settings.gateway.host}:{port or settings.gateway.port}{PATH}"


def page_url(settings: Settings, port: int | None = None) -> str:
    """The browser client's page, served by the gateway on the same port."""
    scheme = "https" if settings.gateway.tls_cert is not None else "http"
    return f"{scheme}://{settings.gateway.host}:{port or settings.gateway.port}/"


class CloseCode(IntEnum):
    """The close codes of protocol v1."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    POLICY = 1008
    TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013


class ProtocolError(ValueError):
    """A message that breaks the protocol (for hello: close 1002)."""


class UnknownMessage(ValueError):
    """A text message whose type the server does not know (``error: unknown_message``)."""


@dataclass(frozen=True)
class Hello:
    client_id: str
    token: str


@dataclass(frozen=True)
class FrameInfo:
    """The optional text message before a binary frame."""

    seq: int
    captured_at: int


def _object(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise ProtocolError("expected a text message")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # also numbers over 4300 digits, nesting too deep
        raise ProtocolError("message is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError("message is not a JSON object")
    return value


def parse_hello(raw: str | bytes) -> Hello:
    """The first message; ProtocolError says what is wrong with it."""
    message = _object(raw)
    if message.get("type") != "hello":
        raise ProtocolError("the first message must be hello")
    if message.get("protocol") != PROTOCOL_VERSION or isinstance(message.get("protocol"), bool):
        raise ProtocolError(f"unsupported protocol {message.get('protocol')!r}; expected 1")
    client_id, token = message.get("client_id"), message.get("token")
    if not isinstance(client_id, str) or not _SAFE_ID.fullmatch(client_id):
        raise ProtocolError("client_id must be 1-128 characters of A-Z a-z 0-9 . _ -")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise ProtocolError("token must be a non-empty string")
    return Hello(client_id, token)


def _non_negative_int(message: dict[str, Any], name: str) -> int:
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"frame.{name} must be a non-negative integer")
    return value


def parse_text(raw: str) -> FrameInfo:
    """A text message after welcome: only ``frame`` is known.

    Raises UnknownMessage for another type and ProtocolError for a bad frame message (both
    answered with an error message; neither ends the session).
    """
    message = _object(raw)
    kind = message.get("type")
    if kind != "frame":
        raise UnknownMessage(f"unknown message type {kind!r}")
    return FrameInfo(_non_negative_int(message, "seq"), _non_negative_int(message, "captured_at"))


def is_jpeg(data: bytes) -> bool:
    return data.startswith(JPEG_MAGIC)


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def welcome(session_id: str, max_fps: float, max_frame_bytes: int) -> dict[str, Any]:
    fps: float | int = int(max_fps) if float(max_fps).is_integer() else max_fps
    return {"type": "welcome", "session_id": session_id, "max_fps": fps,
            "max_frame_bytes": max_frame_bytes}


def queued(position: int) -> dict[str, Any]:
    return {"type": "queued", "position": position}


def status(state: str, reason: str = "") -> dict[str, Any]:
    return {"type": "status", "state": state, "reason": reason}


def error(code: str, message: str, seq: int | None = None) -> dict[str, Any]:
    """An error message; ``seq`` names the frame it is about, when it is about one."""
    message_ = {"type": "error", "code": code, "message": message}
    return message_ if seq is None else {**message_, "seq": seq}


def decision(event: Decision) -> dict[str, Any]:
    """The client's view of a Decision event. ``session_id`` is the session of the frame: a
    lock decided for a frame of the client's previous session reaches the current one.
    ``issues`` (what is wrong with the picture) appears only when there are some. While a
    step-up challenge runs, and on the decision that ends it, ``challenge`` says how it stands
    (an additive field: clients that do not know it ignore it)."""
    message = {"type": "decision", "frame_id": event.frame_id, "session_id": event.session_id,
               "seq": event.seq,
               "action": event.action.value, "reason": event.reason.value,
               "scores": dict(event.scores), "decided_at": event.decided_at}
    if event.issues:
        message["issues"] = [issue.value for issue in event.issues]
    if event.challenge is not None:
        c = event.challenge
        message["challenge"] = {"id": c.id, "action": c.action.value, "state": c.state.value,
                                "progress": c.progress, "detail": c.detail}
    return message


def challenge(event: ChallengeProgress, now: int | None = None) -> dict[str, Any]:
    """The step-up challenge message: what to do, and the milliseconds left to do it (the
    server's clock stays on the server: the client counts down from receipt)."""
    left = max(0, event.deadline_at - (now_ms() if now is None else now))
    return {"type": "challenge", "id": event.id, "action": event.action.value,
            "deadline_ms": left}


def replies(event: Decision, now: int | None = None) -> list[dict[str, Any]]:
    """The messages one Decision becomes: the challenge it asks, if any, then the decision."""
    if event.challenge is not None and event.challenge.issued:
        return [challenge(event.challenge, now), decision(event)]
    return [decision(event)]
