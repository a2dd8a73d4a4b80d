"""Helpers of the gateway tests: clients in the user database, gateways, WebSocket clients.

Every wait is bounded in time; every address is 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from control.users.repository import open_repository
from control.users.tokens import hash_token, new_token
from ingest.gateway import Gateway
from tests.conftest import TESTDATA
from vigil.core.settings import Settings

JPEG = (TESTDATA / "faces" / "obama_1.jpg").read_bytes() if TESTDATA.is_dir() else (
    b"\xff\xd8\xff\xe0" + bytes(2000) + b"\xff\xd9")


def add_client(settings: Settings, client_id: str, enrolled: bool = True) -> str:
    """Put a client in the user database (random unit embedding) and return its token."""
    repo = open_repository(settings)
    try:
        repo.ensure_client(client_id, f"user {client_id}")
        if enrolled:
            vector = np.random.default_rng(len(client_id)).normal(size=(1, 512))
            repo.set_embeddings(client_id, (vector / np.linalg.norm(vector)).astype(np.float32))
        token = new_token()
        repo.set_token_hash(client_id, hash_token(token))
        return token
    finally:
        repo.close()


@asynccontextmanager
async def running_gateway(settings: Settings, gateway_id: str | None = None
                          ) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings, gateway_id)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def open_session(url: str, client_id: str, token: str, **kwargs: Any
                       ) -> ClientConnection:
    """Connect and send hello; the caller reads welcome, queued or the close."""
    ws = await connect(url, open_timeout=10, max_size=2**22, **kwargs)
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "client_id": client_id,
                              "token": token}))
    return ws


async def next_message(ws: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    """The next server message as JSON (raises TimeoutError or ConnectionClosed)."""
    raw = await asyncio.wait_for(ws.recv(), timeout_s)
    message: dict[str, Any] = json.loads(raw)
    return message


async def expect(ws: ClientConnection, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
    message = await next_message(ws, timeout_s)
    assert message["type"] == kind, message
    return message


async def closed_with(ws: ClientConnection, timeout_s: float = 5.0
                      ) -> tuple[int | None, str, list[dict[str, Any]]]:
    """Read until the server closes: (code, reason, messages received before the close)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        try:
            while True:
                messages.append(json.loads(await ws.recv()))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            reason = exc.rcvd.reason if exc.rcvd is not None else ""
            return code, reason, messages


async def welcomed(url: str, client_id: str, token: str, **kwargs: Any) -> ClientConnection:
    ws = await open_session(url, client_id, token, **kwargs)
    await expect(ws, "welcome")
    return ws


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
