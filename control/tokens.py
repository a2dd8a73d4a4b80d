"""Access tokens: random, shown once, stored only as a hash, compared in constant time.

A token is 32 random bytes (urlsafe base64). With that much entropy a plain SHA-256 is the
right hash: a slow password hash would add nothing but latency to every hello.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh token to give to the client (never stored as is)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` hashes to ``stored_hash``; constant time, False when none stored."""
    if not stored_hash:
        # Still hash and compare, so a missing token costs the same time as a wrong one.
        hmac.compare_digest(hash_token(token), "0" * 64)
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)
