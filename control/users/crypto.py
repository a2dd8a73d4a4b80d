"""The encryption key of a deployment and AES-256-GCM helpers (embeddings, evidence frames).

The key is ``settings.secret_key`` (``VIGIL_SECRET_KEY``: base64 of 32 bytes) when set;
otherwise the file ``STATE_DIR/secret.key`` (base64, mode 0600), created on first use. The key
never lives in the repository. :func:`encrypt` and :func:`decrypt` are general: any caller
binds its ciphertext to its own context with ``associated_data`` (for example the client id
and purpose), so a blob copied to another record does not decrypt.

Blob layout: 12-byte random nonce, then the ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_FILE_NAME = "secret.key"


class CryptoError(VigilError, ValueError):
    """A key that cannot be used, or data that does not decrypt (wrong key, altered bytes)."""


def decode_key(text: str, source: str) -> bytes:
    """The 32-byte key from its base64 text; ``source`` names where the text came from."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise CryptoError(f"{source} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise CryptoError(f"{source} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def key_file(settings: Settings) -> Path:
    """Where the generated key lives when VIGIL_SECRET_KEY is not set."""
    return settings.deployment.state_dir / KEY_FILE_NAME


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.b64encode(os.urandom(KEY_BYTES)) + b"\n"
    try:
        # O_EXCL: two processes starting at once must not write two different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(encoded)
    log.warning("created a new encryption key file=%s (mode 0600); back it up: data "
                "encrypted with it cannot be read without it", path)


def load_key(settings: Settings, create: bool = True) -> bytes:
    """The deployment's 32-byte key; creates the key file on first use when ``create``."""
    if settings.deployment.secret_key is not None:
        return decode_key(settings.deployment.secret_key.get_secret_value(), "VIGIL_SECRET_KEY")
    path = key_file(settings)
    if not path.exists():
        if not create:
            raise CryptoError(f"no encryption key: set VIGIL_SECRET_KEY or create {path}")
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise CryptoError(f"key file {path} is readable by others (mode {mode:o}); "
                          "chmod 600 it")
    return decode_key(path.read_text(), f"key file {path}")


def derive_key(key: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (HKDF-SHA256), so the data key itself is used only once.

    Different purposes give unrelated keys: a MAC key never decrypts data, nor the reverse.
    """
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=purpose.encode()).derive(key)


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM with a fresh random nonce, bound to ``associated_data``."""
    if len(key) != KEY_BYTES:
        raise CryptoError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Decrypt what :func:`encrypt` made; CryptoError when the key, data or context differ."""
    if len(key) != KEY_BYTES:
        raise CryptoError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError("encrypted data is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise CryptoError("decryption failed: wrong key, or the data or its context was "
                          "altered") from None
