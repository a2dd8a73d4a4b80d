"""The audit sink's own Ed25519 key, which signs the audit log's checkpoints.

Checkpoints used to be MAC'd with a key derived from the data key, which every container of
the production shape holds (gateways included): whoever held it could make a checkpoint for a
cut log. Now only the audit sink holds the private key (``audit_signing_key``, made at its
first start, mode 0600; give it to that container alone); verifiers — `vigil audit verify`,
the console, a case export's reader — need only the public key (``audit_verify_key``), which
proves nothing to a forger.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sinks.audit_log import AuditError
from sinks.files import write_atomic
from vigil.core.settings import Settings


def signing_key_path(settings: Settings) -> Path:
    return (
        settings.sinks.audit_signing_key or settings.deployment.state_dir / "audit" / "signing.key"
    )


def verify_key_path(settings: Settings) -> Path:
    return (
        settings.sinks.audit_verify_key or settings.deployment.state_dir / "audit" / "signing.pub"
    )


def load_signing_key(settings: Settings, create: bool = False) -> Ed25519PrivateKey:
    """The audit sink's private key; with ``create``, made (with its public key) when absent."""
    path = signing_key_path(settings)
    if not path.exists():
        if not create:
            raise AuditError(f"no audit signing key at {path}: only the audit sink holds it "
                             "(it makes one at its first start)")
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as dst:
            dst.write(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        write_atomic(verify_key_path(settings), public_pem(key.public_key()))
        return key
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read the audit signing key {path}: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditError(f"{path} is not an Ed25519 private key")
    pub = verify_key_path(settings)
    if not pub.exists():  # the public half is derived, so it can always be written back
        write_atomic(pub, public_pem(loaded.public_key()))
    return loaded


def load_verify_key(settings: Settings) -> Ed25519PublicKey:
    """The public key that checks checkpoints (all a verifier needs)."""
    path = verify_key_path(settings)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise AuditError(f"no audit verify key at {path}: copy the audit sink's public key "
                         "(audit/signing.pub beside its log) there, or set audit_verify_key"
                         ) from None
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read the audit verify key {path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{path} is not an Ed25519 public key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_ok(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
