"""Authenticated encryption at rest for the sinks, behind two small functions.

Key management belongs to the control plane (``control/crypto.py``: ``settings.secret_key`` or
a 0600 key file in the state folder). Until that module lands, :func:`seal` and :func:`unseal`
use ``settings.secret_key`` only and refuse to run without it; no second key scheme lives here.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.settings import Settings

NONCE_BYTES = 12


class SealError(ValueError):
    """Data that cannot be decrypted: wrong key, tampered bytes, or no key configured."""


def _key(settings: Settings) -> bytes:
    if settings.secret_key is None:
        raise SealError(
            "no encryption key: set VIGIL_SECRET_KEY (base64 of 32 bytes); the key file of "
            "control/crypto.py is not available yet"
        )
    try:
        key = base64.b64decode(settings.secret_key.get_secret_value(), validate=True)
    except binascii.Error:
        raise SealError("VIGIL_SECRET_KEY is not valid base64") from None
    if len(key) != 32:
        raise SealError(f"VIGIL_SECRET_KEY must decode to 32 bytes, got {len(key)}")
    return key


def check_key(settings: Settings) -> None:
    """Fail at startup, not at the first item, when no usable key is configured."""
    _key(settings)


def seal(settings: Settings, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM: a fresh random nonce, then ciphertext and tag, bound to associated_data."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_key(settings)).encrypt(nonce, plaintext, associated_data)


def unseal(settings: Settings, blob: bytes, associated_data: bytes) -> bytes:
    """Decrypt what :func:`seal` made; SealError when the key or any byte is wrong."""
    if len(blob) < NONCE_BYTES + 16:
        raise SealError("sealed data is truncated")
    try:
        return AESGCM(_key(settings)).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data
        )
    except InvalidTag:
        raise SealError(
            "decryption failed: wrong key, or the file was altered or moved"
        ) from None
