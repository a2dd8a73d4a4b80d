"""Access tokens: random, shown once, stored only as a hash, compared in constant time.

A token is 32 random bytes (urlsafe base64). With that much entropy a plain SHA-256 is the
right hash: a slow password hash would add nothing but latency to every hello. A token never
starts with ``-``: one in 64 would otherwise, and a command line (``vigil client --token
-A9Z...``) reads it as an option.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """A fresh token to give to the client (never stored as is), not starting with ``-``."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


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
