"""Putting a checked archive's members back into the state folder (see restore.py).

The members are already extracted and verified in a staging folder inside the state folder,
so every move here is a rename. The user database is opened with the archive's data key (never
through ``load_key``, which would make a new key when none is placed yet), migrated to this
code's schema, and every enrolled client's embeddings are decrypted; the audit log is verified
and one evidence item decrypted, so a restore that reports success can be used.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from control.users.crypto import CryptoError, decode_key, key_file
from control.users.db import SqliteUserRepository, UserRepository
from control.users.db_postgres import PostgresUserRepository, postgres_tool, query
from processors.decide.policy_file import policy_path
from sinks.audit import audit_log_path
from sinks.audit_anchor import CheckpointUnavailable, checkpoint_file
from sinks.audit_log import verify
from sinks.audit_verify import reanchor
from sinks.evidence_store import SUFFIX, EvidenceError, evidence_root, read_evidence
from vigil.backup.manifest import (
    AUDIT_CHECKPOINT,
    AUDIT_LOG,
    EVIDENCE,
    POLICY,
    SETTINGS_FILE,
    USERS_PGDUMP,
    USERS_SQLITE,
    WEIGHTS_MANIFEST,
    BackupError,
    Manifest,
)
from vigil.core.flow import AUDIT_STAGE, EVIDENCE_STAGE
from vigil.core.settings import Settings, redact_url
from vigil.core.weights import MANIFEST as WEIGHTS_MANIFEST_FILE

RESTORE_TIMEOUT_S = 600
RESTORED_CONFIG = "restored"


def _clients_here(settings: Settings) -> int:
    url = settings.control.user_db_url
    if url is not None:
        if query(url, "SELECT to_regclass('clients')")[0][0] is None:
            return 0
        return int(str(query(url, "SELECT COUNT(*) FROM clients")[0][0]))
    path = settings.user_db_path
    if not path.is_file():
        return 0
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        if db.execute("SELECT name FROM sqlite_master WHERE name = 'clients'").fetchone() is None:
            return 0
        return int(db.execute("SELECT COUNT(*) FROM clients").fetchone()[0])


def existing_state(settings: Settings) -> list[str]:
    """What a restore would overwrite here, in words (empty when there is nothing)."""
    found = []
    clients = _clients_here(settings)
    if clients:
        where = redact_url(settings.control.user_db_url or str(settings.user_db_path))
        found.append(f"the user database {where} holds {clients} client(s)")
    audit = audit_log_path(settings)
    if audit.is_file() and audit.stat().st_size > 0:
        found.append(f"an audit log is at {audit}")
    root = evidence_root(settings)
    if next(root.glob(f"*/*/*{SUFFIX}"), None) is not None:
        found.append(f"evidence is under {root}")
    return found


def _move_aside(paths: list[Path], aside: Path | None) -> None:
    """Move what is replaced into ``aside`` (with --force), or delete leftovers without data."""
    for path in paths:
        if not path.exists():
            continue
        if aside is None and path.is_dir():
            shutil.rmtree(path)
        elif aside is None:
            path.unlink()
        else:
            aside.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.move(str(path), aside / path.name)


def place_all(settings: Settings, manifest: Manifest, staging: Path, key: bytes,
              aside: Path | None, placed: list[str], notes: list[str]) -> None:
    """Place every member; what they replace goes to ``aside`` (--force), else is only
    leftovers without data and is deleted. ``placed`` and ``notes`` get lines for the
    operator."""
    if manifest.key_included and settings.deployment.secret_key is None:
        path = key_file(settings)
        if not path.exists() or decode_key(path.read_text(), str(path)) != key:
            _move_aside([path], aside)  # a differing key arrives here only with --force
            _write_new(path, base64.b64encode(key) + b"\n")
            placed.append(f"data key -> {path} (mode 0600)")
    placed.append(_place_user_db(settings, staging, key, aside))
    if AUDIT_LOG in manifest.members:
        placed.append(_place_audit_log(settings, staging, aside, notes))
    placed.append(_place_evidence(settings, staging, aside))
    _place_config(settings, staging, notes)
    if aside is not None and aside.exists():
        notes.append(f"what was here before is in {aside}")
    notes.append(
        "Kafka topics are not in a backup. On the same cluster, the audit and evidence sinks "
        "go on from their committed offsets, so decisions made after the backup are missing "
        "here: reset the consumer groups "
        f"{AUDIT_STAGE.group(settings)} and {EVIDENCE_STAGE.group(settings)} to the "
        "earliest offsets to add them back (lines already in the log are skipped; see "
        "docs/operating/backup.md)")


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _place_user_db(settings: Settings, staging: Path, key: bytes, aside: Path | None) -> str:
    url = settings.control.user_db_url
    repo: UserRepository
    if url is not None:
        _pg_restore(url, staging / USERS_PGDUMP)
        repo, where = PostgresUserRepository(url, key), redact_url(url)
    else:
        target = settings.user_db_path
        _move_aside([target, Path(f"{target}-wal"), Path(f"{target}-shm")], aside)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / USERS_SQLITE, target)
        repo, where = SqliteUserRepository(target, key), str(target)
    try:
        records = repo.list_clients()
        enrolled = [r.client_id for r in records if r.enrolled]
        for client_id in enrolled:
            try:
                repo.embeddings(client_id)
            except CryptoError as exc:
                raise BackupError(f"restored, but the embeddings of client {client_id} do not "
                                  f"decrypt with the data key: {exc}") from None
    finally:
        repo.close()
    return (f"user database: {len(records)} clients ({len(enrolled)} enrolled, embeddings "
            f"decrypt) -> {where}")


def _pg_restore(url: str, dump: Path) -> None:
    pg_restore = postgres_tool("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not installed: apt-get install postgresql-client-15")
    # --clean: a gateway may already have made the (empty) tables; clients were checked above.
    result = subprocess.run([str(pg_restore), "--clean", "--if-exists", "--no-owner",
                             "--no-privileges", "--exit-on-error", f"--dbname={url}",
                             str(dump)], capture_output=True, text=True,
                            timeout=RESTORE_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise BackupError(f"pg_restore into the user database {redact_url(url)} failed: "
                          f"{result.stderr.strip()[:500]}")


def _place_audit_log(settings: Settings, staging: Path, aside: Path | None,
                     notes: list[str]) -> str:
    target = audit_log_path(settings)
    _move_aside([target, checkpoint_file(target)], aside)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(staging / AUDIT_LOG, target)
    if (staging / AUDIT_CHECKPOINT).is_file():
        # The log's own anchor as backed up: verify sees the log was whole then.
        os.replace(staging / AUDIT_CHECKPOINT, checkpoint_file(target))
    result = verify(target)
    if not result.ok:
        notes.append(f"the restored audit log does NOT verify: line {result.bad_line}: "
                     f"{result.reason} (as it was when backed up)")
    else:
        notes.append(_reanchor_restored(settings, target))
    return f"audit log: {result.lines} lines{', chain verifies' if result.ok else ''} -> {target}"


def _reanchor_restored(settings: Settings, target: Path) -> str:
    """A restored log is shorter than its last checkpoint: anchor it anew (sinks.audit_verify),
    on Kafka too when it answers, so the audit sink continues it and verify passes."""
    reason = "restored from a backup by `vigil restore`"
    try:
        checkpoint, previous = reanchor(settings, target, reason)
        where = "the checkpoint file and Kafka"
    except CheckpointUnavailable as exc:
        checkpoint, previous = reanchor(settings, target, reason, use_kafka=False)
        where = (f"the checkpoint file only ({exc}); run `vigil audit reanchor --reason ...` "
                 "once Kafka answers")
    replaced = previous.describe() if previous else "none"
    return (f"the audit log was re-anchored at line {checkpoint.lines} (a `reanchored` line "
            f"records the restore) in {where}; the checkpoint it replaced: {replaced}")


def _place_evidence(settings: Settings, staging: Path, aside: Path | None) -> str:
    root = evidence_root(settings)
    _move_aside([root], aside)
    source = staging / EVIDENCE
    if not source.is_dir():
        return "evidence: none in the archive"
    os.replace(source, root)
    items = sorted(root.glob(f"*/*/*{SUFFIX}"))
    try:
        read_evidence(settings, items[0])
    except EvidenceError as exc:
        raise BackupError(f"restored, but evidence does not decrypt: {exc}") from None
    return f"evidence: {len(items)} items (decrypt) -> {root}"


def _place_config(settings: Settings, staging: Path, notes: list[str]) -> None:
    folder = settings.deployment.state_dir / RESTORED_CONFIG
    in_use = {POLICY: policy_path(settings), WEIGHTS_MANIFEST: WEIGHTS_MANIFEST_FILE,
              SETTINGS_FILE: None}
    for member, current in in_use.items():
        source = staging / member
        if not source.is_file():
            continue
        target = folder / Path(member).name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(source, target)
        if current is None:
            notes.append(f"the settings file of the backup is {target} (without secret_key "
                         "unless the backup had --include-key): use it with --config")
        elif current.read_bytes() != target.read_bytes():
            notes.append(f"{target} differs from the one in use here ({current}): the backup's "
                         "is the one its decisions were made with")
