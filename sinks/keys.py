"""Redis names the replies sink reads and writes, in one place.

The session hash and the reply channel belong to the gateway's key layout. Until the control
plane's key module lands (``control/redis_keys.py``), the names are spelled here, so switching
to it is one edit of this file.
"""

from __future__ import annotations

# Fields of the session hash the gateway writes for each connected client.
SESSION_GATEWAY_FIELD = "gateway_id"
SESSION_ID_FIELD = "session_id"


def session_key(namespace: str, client_id: str) -> str:
    """Hash of the client's live session: gateway_id, session_id."""
    return f"{namespace}:session:{client_id}"


def reply_channel(namespace: str, gateway_id: str) -> str:
    """Pub/sub channel of one gateway; payloads are Decision JSON."""
    return f"{namespace}:replies:{gateway_id}"


def replied_key(namespace: str, frame_id: str) -> str:
    """Marker set (NX, with a TTL) before a frame's decision is published: one reply per frame."""
    return f"{namespace}:replied:{frame_id}"
