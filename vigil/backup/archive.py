"""`vigil backup FILE`: one tar archive of a deployment's state, taken while it runs.

What goes in, and how each part is copied consistently, is in vigil/backup/manifest.py and
vigil/backup/snapshot.py. The archive is written to ``FILE.partial`` (mode 0600: it holds
token hashes and encrypted biometric data) and renamed to ``FILE`` once complete, so a
``FILE`` that exists is whole. Kafka topics are not in it: they are replicated by the cluster
(docs/operating/backup.md).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from control.users.crypto import CryptoError, load_key
from processors.decide.policy_file import policy_path
from sinks.audit import audit_log_path
from sinks.audit_anchor import checkpoint_file
from vigil.backup import snapshot
from vigil.backup.manifest import (
    AUDIT_CHECKPOINT,
    AUDIT_LOG,
    KEY,
    MANIFEST_MEMBER,
    POLICY,
    ROOT,
    SETTINGS_FILE,
    WEIGHTS_MANIFEST,
    BackupError,
    Manifest,
    Member,
    key_fingerprint,
    sealed,
)
from vigil.core.settings import Settings
from vigil.core.weights import MANIFEST as WEIGHTS_MANIFEST_FILE

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class _Writer:
    """Adds members to the tar and records each one's sha256 and size."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members: dict[str, Member] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, io.BytesIO(data), len(data),
                  hashlib.sha256(data).hexdigest())

    def add_file(self, name: str, path: Path) -> None:
        digest = hashlib.sha256()
        with path.open("rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
        with path.open("rb") as src:
            self._add(name, src, path.stat().st_size, digest.hexdigest())

    def _add(self, name: str, data: BinaryIO, size: int, sha256: str) -> None:
        info = tarfile.TarInfo(f"{ROOT}/{name}")
        info.size, info.mode, info.mtime = size, 0o600, int(time.time())
        self.tar.addfile(info, data)
        self.members[name] = Member(sha256=sha256, bytes=size)


def _data_key(settings: Settings) -> bytes:
    try:
        return load_key(settings, create=False)
    except CryptoError as exc:
        raise BackupError(f"no usable data key, so nothing encrypted to back up: {exc}") from None


def write_backup(settings: Settings, out: Path, config_file: Path | None,
                 include_key: bool) -> Manifest:
    """Write the archive to ``out``; returns its manifest."""
    key = _data_key(settings)
    started = int(time.time() * 1000)
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar, \
                tempfile.TemporaryDirectory(prefix="vigil-backup-") as scratch:
            manifest = _write_members(settings, _Writer(tar), Path(scratch), config_file,
                                      key if include_key else None, started)
            body = sealed(manifest, key).model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(f"{ROOT}/{MANIFEST_MEMBER}")
            info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(body))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return sealed(manifest, key)


def _write_members(settings: Settings, writer: _Writer, scratch: Path,
                   config_file: Path | None, key: bytes | None, started: int) -> Manifest:
    fingerprint = key_fingerprint(_data_key(settings))
    users = snapshot.copy_user_db(settings, scratch)
    writer.add_file(users.member, users.path)
    # The checkpoint first: the log only grows, so the copy of the log then reaches at least
    # as far as the copied checkpoint, and the restored pair verifies.
    anchor = checkpoint_file(audit_log_path(settings))
    if anchor.is_file():
        shutil.copyfile(anchor, scratch / anchor.name)
        writer.add_file(AUDIT_CHECKPOINT, scratch / anchor.name)
    audit = snapshot.copy_audit_log(audit_log_path(settings), scratch / "audit.log")
    if audit is not None:
        writer.add_file(AUDIT_LOG, audit.path)
    items = vanished = 0
    for name, data in snapshot.evidence_members(settings):
        if data is None:
            vanished += 1
            continue
        writer.add_bytes(name, data)
        items += 1
    writer.add_file(POLICY, policy_path(settings))
    writer.add_file(WEIGHTS_MANIFEST, WEIGHTS_MANIFEST_FILE)
    if config_file is not None:
        writer.add_bytes(SETTINGS_FILE, snapshot.settings_file_text(config_file, key is not None))
    if key is not None:
        writer.add_bytes(KEY, base64.b64encode(key) + b"\n")  # the key file's format
    return Manifest(
        created_at=started, namespace=settings.deployment.namespace, user_db_engine=users.engine,
        user_db_schema_version=users.schema_version, clients=users.clients,
        key_fingerprint=fingerprint, key_included=key is not None,
        audit_lines=audit.lines if audit else 0, audit_problem=audit.problem if audit else "",
        evidence_items=items, evidence_vanished=vanished, members=writer.members)
