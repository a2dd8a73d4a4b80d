"""Durable file writes and safe paths, shared by the file-writing sinks.

A sink lets its loop commit only after its output survives a crash: written to a temporary
file, fsynced, renamed over the final name, and the directory fsynced so the rename itself
is on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from schemas.events import SafeId
from vigil.core.errors import VigilError

_SAFE_ID: TypeAdapter[str] = TypeAdapter(SafeId)
TMP_PREFIX = ".tmp-"


class UnsafePathError(VigilError, ValueError):
    """An id or path that would leave the folder it must stay in."""


def safe_id(value: str, what: str) -> str:
    """Re-validate an id against the contract's SafeId pattern before it names a file."""
    try:
        return _SAFE_ID.validate_python(value)
    except ValidationError:
        raise UnsafePathError(f"{what} {value!r} is not a safe id") from None


def path_under(root: Path, *parts: str) -> Path:
    """root/parts..., refused unless the resolved path stays under the resolved root."""
    resolved_root = root.resolve()
    path = resolved_root.joinpath(*parts).resolve()
    if not path.is_relative_to(resolved_root) or path == resolved_root:
        raise UnsafePathError(f"path {path} leaves {resolved_root}")
    return path


def fsync_dir(path: Path) -> None:
    """fsync a directory, so a rename or a new entry in it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = 0o700) -> None:
    """Create path and its missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=mode, exist_ok=True)
        fsync_dir(folder.parent)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace path with data durably: temp file, fsync, rename, fsync the directory."""
    make_dirs(path.parent)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
