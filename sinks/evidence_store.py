"""The evidence folder: one encrypted file per non-allow decision, found, read and purged.

Layout: ``STATE_DIR/evidence/{client_id}/{YYYY-MM-DD}/{frame_id}.vgev``, the day being the
decision's ``decided_at`` in UTC (so a replayed decision rewrites the same file).

File format (``.vgev``, version 2, under the client's own key)::

    MAGIC_V2 (16 bytes: b"VIGIL-EVIDENCE" 0x00 0x02) || key_id (32 ASCII hex digits)
    sealed blob = nonce (12) || AES-256-GCM ciphertext || tag (16)

    associated data = b"vigil-evidence/v2" 0x00 client_id 0x00 frame_id 0x00 key_id
    plaintext       = u32 big-endian length N || N bytes of metadata JSON || JPEG bytes

The key is the client's (``control.users.client_keys``), so `vigil clients forget` makes every file
of that client unreadable by destroying it. Version 1 files (MAGIC 0x00 0x01, no key id,
associated data ``b"vigil-evidence/v1" 0x00 client_id 0x00 frame_id``) were sealed under the
deployment's data key before per-client keys existed; they are still read, and forgetting a
client deletes them, since no key of theirs can be destroyed.

The metadata JSON holds ``decision`` (the Decision), ``frame`` (the frame's headers, or null
when the frame was no longer in Kafka), ``note`` (why the frame is missing, or null) and
``stored_at`` (epoch ms). The associated data binds the file to its ids: a file moved under
another client or renamed to another frame fails to decrypt.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from control.users.client_keys import ClientForgottenError, ClientKey
from control.users.crypto import CryptoError, decrypt, encrypt, load_key
from schemas.events import Decision, FrameHeaders
from sinks.files import UnsafePathError, path_under, safe_id, write_atomic
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

MAGIC = b"VIGIL-EVIDENCE\x00\x01"  # version 1: under the data key
MAGIC_V2 = b"VIGIL-EVIDENCE\x00\x02"  # version 2: under the client's key, named after it
KEY_ID_CHARS = 32
SUFFIX = ".vgev"
_LEN = struct.Struct(">I")


class KeyRing(Protocol):
    """The client keys of the user database (``SqliteUserRepository.keys``)."""

    def live(self, client_id: str, revive: bool) -> ClientKey: ...

    def by_id(self, key_id: str) -> bytes: ...


@contextmanager
def _keys_of(settings: Settings, keys: KeyRing | None) -> Iterator[KeyRing]:
    """The given keys, else the settings' user database opened for this call."""
    if keys is not None:
        yield keys
        return
    from control.users.repository import open_repository

    repo = open_repository(settings)
    try:
        yield repo.keys
    finally:
        repo.close()


class EvidenceError(VigilError, ValueError):
    """Evidence that cannot be found, read or trusted; the message says which and why."""


@dataclass(frozen=True)
class EvidenceItem:
    """One decrypted evidence item."""

    decision: Decision
    frame: FrameHeaders | None
    jpeg: bytes | None
    note: str | None
    stored_at: int


def evidence_root(settings: Settings) -> Path:
    return settings.deployment.state_dir / "evidence"


def day_of(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def evidence_path(root: Path, client_id: str, day: str, frame_id: str) -> Path:
    """The file of one item, built from re-validated ids and checked to stay under root."""
    try:
        dt.date.fromisoformat(day)
        return path_under(root, safe_id(client_id, "client_id"), day,
                          safe_id(frame_id, "frame_id") + SUFFIX)
    except (UnsafePathError, ValueError) as exc:
        raise EvidenceError(f"refusing evidence path: {exc}") from None


def associated_data(client_id: str, frame_id: str, key_id: str | None = None) -> bytes:
    if key_id is None:  # version 1
        return b"vigil-evidence/v1\x00" + client_id.encode() + b"\x00" + frame_id.encode()
    return b"\x00".join([b"vigil-evidence/v2", client_id.encode(), frame_id.encode(),
                         key_id.encode()])


def write_evidence(settings: Settings, decision: Decision, frame: FrameHeaders | None,
                   jpeg: bytes | None, note: str | None = None,
                   keys: KeyRing | None = None) -> Path:
    """Encrypt (under the client's key) and durably write one item; the same decision again
    replaces it. Raises ClientForgottenError for a forgotten client: nothing is kept.

    ``keys``: the client keys (the sink passes its own; None opens the user database).
    """
    path = evidence_path(evidence_root(settings), decision.client_id,
                         day_of(decision.decided_at), decision.frame_id)
    meta = json.dumps({
        "decision": decision.model_dump(mode="json"),
        "frame": frame.model_dump(mode="json") if frame else None,
        "note": note,
        "stored_at": int(time.time() * 1000),
    }, separators=(",", ":")).encode()
    plaintext = _LEN.pack(len(meta)) + meta + (jpeg or b"")
    with _keys_of(settings, keys) as ring:
        key = ring.live(decision.client_id, revive=False)
    blob = encrypt(key.key, plaintext,
                   associated_data(decision.client_id, decision.frame_id, key.key_id))
    write_atomic(path, MAGIC_V2 + key.key_id.encode() + blob)
    return path


def find_evidence(settings: Settings, frame_id: str) -> Path:
    """The file holding frame_id's evidence, under any client and day."""
    try:
        name = safe_id(frame_id, "frame_id") + SUFFIX
    except UnsafePathError as exc:
        raise EvidenceError(str(exc)) from None
    matches = sorted(evidence_root(settings).glob(f"*/*/{name}"))
    if not matches:
        raise EvidenceError(f"no evidence for frame {frame_id} under {evidence_root(settings)}")
    if len(matches) > 1:
        raise EvidenceError(f"frame {frame_id} has several evidence files: {matches}")
    return matches[0]


def read_evidence(settings: Settings, path: Path, keys: KeyRing | None = None) -> EvidenceItem:
    """Decrypt one file; EvidenceError on a wrong or destroyed key, or any altered byte."""
    client_id, frame_id = path.parent.parent.name, path.name.removesuffix(SUFFIX)
    data = path.read_bytes()
    try:
        if data.startswith(MAGIC):
            plaintext = decrypt(load_key(settings, create=False), data[len(MAGIC):],
                                associated_data(client_id, frame_id))
        elif data.startswith(MAGIC_V2):
            plaintext = _open_v2(settings, data, client_id, frame_id, keys)
        else:
            raise EvidenceError(f"{path} is not a Vigil evidence file (bad magic bytes)")
    except (CryptoError, ClientForgottenError) as exc:
        raise EvidenceError(f"{path}: {exc}") from None
    (size,) = _LEN.unpack_from(plaintext)
    meta: dict[str, Any] = json.loads(plaintext[_LEN.size:_LEN.size + size])
    jpeg = plaintext[_LEN.size + size:] or None
    frame = FrameHeaders.model_validate(meta["frame"]) if meta["frame"] else None
    return EvidenceItem(Decision.model_validate(meta["decision"]), frame, jpeg,
                        meta["note"], meta["stored_at"])


def _open_v2(settings: Settings, data: bytes, client_id: str, frame_id: str,
             keys: KeyRing | None) -> bytes:
    start = len(MAGIC_V2)
    key_id = data[start:start + KEY_ID_CHARS].decode("ascii", errors="replace")
    with _keys_of(settings, keys) as ring:
        try:
            key = ring.by_id(key_id)
        except ClientForgottenError:
            raise
        except LookupError:
            raise CryptoError(f"it names key {key_id!r}, which the user database does not "
                              "have: the file was altered, or is from another deployment"
                              ) from None
    return decrypt(key, data[start + KEY_ID_CHARS:],
                   associated_data(client_id, frame_id, key_id))


def forget_evidence(settings: Settings, client_id: str) -> tuple[int, int]:
    """After the client's key is destroyed: delete its version 1 files (sealed under the
    data key, so no key of theirs can be destroyed). Returns (deleted, left unreadable)."""
    try:
        client_dir = path_under(evidence_root(settings), safe_id(client_id, "client_id"))
    except UnsafePathError as exc:
        raise EvidenceError(f"refusing evidence path: {exc}") from None
    deleted = unreadable = 0
    for path in sorted(client_dir.glob(f"*/*{SUFFIX}")):
        with path.open("rb") as src:
            legacy = src.read(len(MAGIC)) == MAGIC
        if legacy:
            path.unlink()
            deleted += 1
        else:
            unreadable += 1
    return deleted, unreadable


def retention_cutoff(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    """The oldest day still kept: days before it are purged."""
    today = (now or dt.datetime.now(dt.UTC)).date()
    return today - dt.timedelta(days=settings.sinks.evidence_retention_days)


def expired(settings: Settings, epoch_ms: int) -> bool:
    """Whether a decision made at epoch_ms is already past the retention period."""
    return dt.date.fromisoformat(day_of(epoch_ms)) < retention_cutoff(settings)


def purge_evidence(settings: Settings, now: dt.datetime | None = None) -> int:
    """Delete the days older than the retention period; returns the number of items removed."""
    root = evidence_root(settings)
    cutoff = retention_cutoff(settings, now)
    removed = 0
    for day_dir in sorted(root.glob("*/*")):
        try:
            day = dt.date.fromisoformat(day_dir.name)
        except ValueError:
            log.warning("purge: skipping %s, not a YYYY-MM-DD folder", day_dir)
            continue
        if day_dir.is_dir() and day < cutoff:
            count = sum(1 for _ in day_dir.glob(f"*{SUFFIX}"))
            shutil.rmtree(day_dir)
            removed += count
            log.info("purge: removed %s (%d items, older than %s)", day_dir, count, cutoff)
    for client_dir in root.glob("*"):
        if client_dir.is_dir() and not any(client_dir.iterdir()):
            client_dir.rmdir()
    return removed
