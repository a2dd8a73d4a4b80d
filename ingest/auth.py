"""Authentication of a hello: client known, token right, client enrolled and not blocked.

Failed hellos (unknown client, wrong or revoked token) are counted per client address and
client id in Redis (``{ns}:authfail:{address}:{client_id}``, expiring after
``auth_failure_window_s``; the address is the one a trusted proxy forwards, see
vigil/core/forwarded.py). Once a pair reaches ``auth_failure_limit`` its hellos are refused
with 1008 "too many failures" until the window passes, before any token is checked, so tokens
cannot be guessed quickly, and nobody else behind the same proxy is refused with it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from control.cluster import redis_keys as keys
from control.users.db import ClientState, UserRepository
from control.users.tokens import token_matches
from ingest.protocol import Hello
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

TOO_MANY_FAILURES = "too many failures"
BAD_CREDENTIALS = "unknown client or bad token"


@dataclass(frozen=True)
class AuthResult:
    """ok, or the close reason; ``paused`` when the client is admitted paused."""

    ok: bool
    reason: str = ""
    paused: bool = False
    state_reason: str = ""
    token_hash: str = ""  # the hash the session was opened with: a new token ends it


class Authenticator:
    """Checks hellos against the user database, with failure rate limiting in Redis."""

    def __init__(self, settings: Settings, repo: UserRepository, client: aioredis.Redis) -> None:
        self.settings = settings
        self.repo = repo
        self.redis = client

    def _key(self, address: str, client_id: str) -> str:
        # IPv6 addresses hold ':'; keep the key's ':' structure unambiguous. Per client id
        # too: one client's failures (or a stranger's guesses at it) refuse only that id from
        # that address, never everybody behind the same proxy or NAT.
        return keys.auth_failures_key(self.settings.deployment.namespace, address.replace(":", "_"),
                                      client_id)

    async def limited(self, address: str, client_id: str) -> bool:
        """Whether this client id has failed too often from this address within the window."""
        count = await self.redis.get(self._key(address, client_id))
        return count is not None and int(count) >= self.settings.gateway.auth_failure_limit

    async def _failed(self, address: str, hello: Hello, reason: str, why: str) -> AuthResult:
        key = self._key(address, hello.client_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, max(1, round(self.settings.gateway.auth_failure_window_s)), nx=True)
            count, _ = await pipe.execute()
        log.warning("hello refused address=%s client_id=%s reason=%s failures=%s", address,
                    hello.client_id, why, count)
        return AuthResult(False, reason)

    async def check(self, hello: Hello, address: str) -> AuthResult:
        """Authenticate one hello from ``address``."""
        if await self.limited(address, hello.client_id):
            log.warning("hello refused address=%s client_id=%s reason=%s", address,
                        hello.client_id, TOO_MANY_FAILURES)
            return AuthResult(False, TOO_MANY_FAILURES)
        record = await asyncio.to_thread(self.repo.get, hello.client_id)
        # One reason for both, so a stranger cannot learn which client ids exist; the log
        # (for operators) says which it was.
        if record is None:
            return await self._failed(address, hello, BAD_CREDENTIALS, "unknown client")
        if not token_matches(hello.token, record.token_hash):
            return await self._failed(address, hello, BAD_CREDENTIALS,
                                      "invalid or revoked token")
        if not record.enrolled:
            return AuthResult(False, "client is not enrolled")
        if record.state is ClientState.BLOCKED:
            reason = f"blocked: {record.state_reason}" if record.state_reason else "blocked"
            return AuthResult(False, reason[:120])
        return AuthResult(True, paused=record.state is ClientState.PAUSED,
                          state_reason=record.state_reason, token_hash=record.token_hash or "")

    async def current_token_hash(self, client_id: str) -> str | None:
        """The client's token hash in the user database now (None: no such client)."""
        record = await asyncio.to_thread(self.repo.get, client_id)
        return None if record is None else record.token_hash
