"""Consistent copies of what a running system keeps writing, taken for a backup.

Each copy is consistent in itself; they are taken one after another, seconds apart:

- SQLite user database: the online backup API (a transaction-consistent copy while the
  gateway reads and the control commands write);
- PostgreSQL user database: ``pg_dump --format=custom`` (one snapshot transaction);
- audit log: the bytes up to the last complete line when the copy starts (the audit sink only
  appends, so that prefix is a valid chain), verified as copied;
- evidence: each ``.vgev`` file read whole (the evidence sink replaces files atomically, so a
  file is old or new, never half); one purged while the backup walks is counted, not fatal;
- the settings file with its ``secret_key`` line removed unless the key is wanted.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from control.users.db_postgres import postgres_tool, query
from sinks.audit_log import verify
from sinks.evidence_store import SUFFIX, evidence_root
from sinks.files import TMP_PREFIX
from vigil.backup.manifest import EVIDENCE, USERS_PGDUMP, USERS_SQLITE, BackupError
from vigil.core.settings import Settings, redact_url

log = logging.getLogger(__name__)

DUMP_TIMEOUT_S = 600
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class UserDbCopy:
    member: str
    path: Path
    engine: Literal["sqlite", "postgresql"]
    schema_version: int
    clients: int


def _sqlite_counts(path: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(path)) as db:
        version = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        clients = db.execute("SELECT COUNT(*) FROM clients").fetchone()[0]
    return int(version or 0), int(clients)


def copy_user_db(settings: Settings, into: Path) -> UserDbCopy:
    """A consistent copy of the user database in the folder ``into``."""
    url = settings.control.user_db_url
    if url is not None:
        return _dump_postgres(url, into / USERS_PGDUMP)
    source = settings.user_db_path
    if not source.is_file():
        raise BackupError(f"no user database at {source}: nothing to back up (is user_db or "
                          "state_dir set as the running system's?)")
    target = into / USERS_SQLITE
    try:
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        version, clients = _sqlite_counts(target)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the user database {source}: {exc}") from None
    return UserDbCopy(USERS_SQLITE, target, "sqlite", version, clients)


def _dump_postgres(url: str, target: Path) -> UserDbCopy:
    pg_dump = postgres_tool("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed: apt-get install postgresql-client-15")
    result = subprocess.run([str(pg_dump), "--format=custom", "--no-owner", "--no-privileges",
                             f"--file={target}", f"--dbname={url}"], capture_output=True,
                            text=True, timeout=DUMP_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise BackupError(f"pg_dump of the user database {redact_url(url)} failed: "
                          f"{result.stderr.strip()[:500]}")
    (version, clients), = query(url, "SELECT (SELECT MAX(version) FROM schema_version), "
                                     "(SELECT COUNT(*) FROM clients)")
    return UserDbCopy(USERS_PGDUMP, target, "postgresql", int(str(version or 0)),
                      int(str(clients)))


@dataclass(frozen=True)
class AuditCopy:
    path: Path
    lines: int
    problem: str  # "" when the copy verifies


def copy_audit_log(source: Path, target: Path) -> AuditCopy | None:
    """The complete lines of the audit log as it is now, verified; None when there is none."""
    if not source.is_file():
        return None
    size = source.stat().st_size
    with source.open("rb") as src, target.open("wb") as dst:
        left = size
        while left > 0 and (chunk := src.read(min(_COPY_CHUNK, left))):
            dst.write(chunk)
            left -= len(chunk)
    _cut_after_last_newline(target)
    result = verify(target)
    problem = "" if result.ok else f"line {result.bad_line}: {result.reason}"
    if problem:
        log.warning("the audit log %s does not verify (%s); backing it up as it is", source,
                    problem)
    return AuditCopy(target, result.lines, problem)


def _cut_after_last_newline(path: Path) -> None:
    data_end = path.stat().st_size
    if data_end == 0:
        return
    with path.open("rb+") as handle:
        position = data_end
        while position > 0:
            start = max(0, position - 65536)
            handle.seek(start)
            block = handle.read(position - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                handle.truncate(start + cut + 1)
                return
            position = start
        handle.truncate(0)


def evidence_members(settings: Settings) -> Iterator[tuple[str, bytes | None]]:
    """(member name, bytes) per evidence file; bytes None for one purged meanwhile."""
    root = evidence_root(settings)
    for path in sorted(root.glob(f"*/*/*{SUFFIX}")):
        if path.name.startswith(TMP_PREFIX):
            continue
        name = f"{EVIDENCE}/{path.relative_to(root).as_posix()}"
        try:
            yield name, path.read_bytes()
        except FileNotFoundError:
            log.info("evidence %s was purged while the backup ran", path)
            yield name, None


def settings_file_text(path: Path, include_key: bool) -> bytes:
    """The settings file as backed up: without its secret_key line unless the key is wanted."""
    text = path.read_text(encoding="utf-8")
    if include_key:
        return text.encode()
    kept = [line if not line.strip().startswith("secret_key") else
            "# secret_key removed by `vigil backup` (the archive holds no key)"
            for line in text.splitlines()]
    result = "\n".join(kept) + "\n"
    try:
        leftover = "secret_key" in tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:
        raise BackupError(f"settings file {path} is not valid TOML once its secret_key line "
                          f"is removed ({exc}); move the key to VIGIL_SECRET_KEY") from None
    if leftover:
        raise BackupError(f"cannot remove secret_key from {path}; move the key to "
                          "VIGIL_SECRET_KEY or back up with --include-key")
    return result.encode()
