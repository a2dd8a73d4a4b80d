"""The append-only, hash-chained audit log: writing it and verifying it.

One JSON object per line, in canonical form (keys sorted, no spaces, UTF-8)::

    {"event":{...},"hash":"<hex>","kafka_timestamp":MS,"key":"client-1","offset":12,
     "partition":3,"prev":"<hex>","recorded_at":MS,"seq":7,"topic":"vigil.decisions",
     "type":"decision"}

``hash`` is sha256 over the canonical serialization of the line without ``hash``; ``prev``
is the ``hash`` of the line before (``GENESIS`` for line 1); ``seq`` is the line number.
``type`` is ``decision``, ``control``, or ``invalid`` (a message that broke its contract:
then ``event`` holds ``error`` and the raw value in base64, so nothing read is left out);
these carry ``topic``, ``partition`` and ``offset``. ``access`` lines (someone viewed or
exported evidence in the auditor console) and ``reanchored`` lines (`vigil audit reanchor`
accepted a log shorter than its checkpoint, ``sinks.audit_verify``) come from no topic and
carry none of the three.
Editing a line breaks its own hash; removing, inserting or reordering lines breaks ``prev``
and ``seq``. Cutting lines from the end, or rewriting the whole chain after an edit, is not
detectable from the log alone: the keyed checkpoints of ``sinks.audit_anchor`` catch both.

Writers: the audit sink opens the log as its *owner* (an exclusive lock held for its life keeps
a second sink out) and checkpoints it after each batch; the auditor console opens it without
owning it, to add ``access`` lines, which the sink's next checkpoint covers. Every append holds
a short exclusive lock on ``{log}.lock`` and first reads the lines another writer added since,
so the chain always continues from the true last line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sinks.files import fsync_dir, make_dirs
from vigil.core.errors import VigilError

log = logging.getLogger(__name__)

GENESIS = hashlib.sha256(b"vigil-audit-genesis/v1").hexdigest()


class AuditError(VigilError, ValueError):
    """An audit log that cannot be opened, continued or read."""


def canonical(fields: dict[str, Any]) -> bytes:
    """The one serialization hashed and written: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def line_hash(fields: dict[str, Any]) -> str:
    """sha256 (hex) of a line's canonical serialization without its ``hash`` field."""
    return hashlib.sha256(canonical({k: v for k, v in fields.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verifying a log: ok, lines checked, the first bad line if any, and the
    hashes of the first line and of the lines asked for (checkpoints compare them)."""

    ok: bool
    lines: int
    bad_line: int | None = None
    reason: str = ""
    first_hash: str | None = None
    hashes: dict[int, str] = field(default_factory=dict)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as src:
        yield from enumerate(src, start=1)


def check_line(raw: bytes, number: int, prev: str) -> str | None:
    """Why line ``number`` is bad given the previous line's hash, or None when it is good."""
    if not raw.endswith(b"\n"):
        return "line is incomplete (no newline at the end)"
    try:
        fields = json.loads(raw)
    except ValueError:
        return "line is not JSON"
    if not isinstance(fields, dict) or not {"hash", "prev", "seq"} <= fields.keys():
        return "line lacks hash, prev or seq"
    if canonical(fields) != raw[:-1]:
        return "line is not in canonical form (edited)"
    if line_hash(fields) != fields["hash"]:
        return "line content does not match its hash (edited)"
    if fields["prev"] != prev:
        return "prev does not match the line before (a line was removed, inserted or moved)"
    if fields["seq"] != number:
        return f"seq is {fields['seq']}, expected {number} (a line was removed or inserted)"
    return None


def verify(path: Path, keep: Collection[int] = ()) -> VerifyResult:
    """Check every line's hash, chain link and sequence number; stop at the first bad one.

    The result holds the hash of line 1 and of every line numbered in ``keep``.
    """
    if not path.is_file():
        raise AuditError(f"audit log {path} does not exist")
    prev, count = GENESIS, 0
    hashes: dict[int, str] = {}
    for number, raw in _lines(path):
        reason = check_line(raw, number, prev)
        if reason is not None:
            return VerifyResult(False, count, number, reason, hashes.get(1), hashes)
        prev, count = json.loads(raw)["hash"], number
        if number == 1 or number in keep:
            hashes[number] = prev
    return VerifyResult(True, count, first_hash=hashes.get(1), hashes=hashes)


class AuditLog:
    """One writer of an audit log file; see the module docstring for owners and appenders."""

    def __init__(self, path: Path, owner: bool = True, keep: Collection[int] = ()) -> None:
        """Open (and with ``owner``, lock) the log and read it; :attr:`hashes` keeps the hash
        of line 1 (the log's id) and of each line numbered in ``keep``."""
        self.path = path
        make_dirs(path.parent)
        created = not path.exists()
        self._file: BinaryIO = open(path, "a+b")  # noqa: SIM115 - held open until close()
        self._lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT,
                             0o600)
        self._threads = threading.Lock()  # flock does not order threads sharing one file
        if owner:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.close()
                raise AuditError(f"audit log {path} is in use by another process") from None
        if created:
            fsync_dir(path.parent)
        self.last_hash, self.lines = GENESIS, 0
        # Highest offset recorded per (topic, partition): a partition is read in order, so
        # anything at or below it is a replay.
        self.high_water: dict[tuple[str, int], int] = {}
        # Committed offsets a `reanchored` line accepted as not in the log (a restore's gap).
        self.accepted: dict[tuple[str, int], int] = {}
        self.hashes: dict[int, str] = {}
        self._keep = frozenset(keep)
        self._size = 0  # bytes of the file already read into the fields above
        with self._appending():
            self._catch_up()
        log.info("audit log %s: %d lines, continuing the chain", self.path, self.lines)

    @property
    def first_hash(self) -> str | None:
        return self.hashes.get(1)

    @contextmanager
    def _appending(self) -> Iterator[None]:
        """Hold the append lock: no other writer of this log writes meanwhile."""
        with self._threads:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Read the lines written since the last read (every line, the first time)."""
        self._drop_torn_tail()
        with self.path.open("rb") as src:
            src.seek(self._size)
            for number, raw in enumerate(src, start=self.lines + 1):
                self._take(number, raw)
                self._size += len(raw)

    def _take(self, number: int, raw: bytes) -> None:
        try:
            fields = json.loads(raw)
            last_hash = str(fields["hash"])
            if "topic" in fields:
                key = (str(fields["topic"]), int(fields["partition"]))
                self.high_water[key] = max(self.high_water.get(key, -1),
                                           int(fields["offset"]))
            if fields.get("type") == "reanchored":
                for topic, parts in (fields["event"].get("committed") or {}).items():
                    for partition, offset in parts.items():
                        key = (str(topic), int(partition))
                        self.accepted[key] = max(self.accepted.get(key, 0), int(offset))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"{self.path} line {number} is unreadable ({exc}); "
                             "run `vigil audit verify`") from None
        self.last_hash, self.lines = last_hash, number
        if number == 1 or number in self._keep:
            self.hashes[number] = last_hash

    def _drop_torn_tail(self) -> None:
        """Cut a last line without its newline: a crash mid-write, never committed."""
        size = self.path.stat().st_size
        if size == 0:
            return
        with self.path.open("rb") as src:
            src.seek(max(0, size - 65536))
            tail = src.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        if cut < 0 and size > len(tail):
            raise AuditError(f"{self.path}: last line is longer than 64 KiB and incomplete")
        keep = size - len(tail) + cut + 1
        log.warning("audit log %s: dropping an incomplete last line (%d bytes)", self.path,
                    size - keep)
        os.truncate(self.path, keep)

    def recorded(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the message at topic[partition]@offset already has its line."""
        return offset <= self.high_water.get((topic, partition), -1)

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Chain, write and fsync entries (those read from Kafka carry topic, partition and
        offset)."""
        if not entries:
            return
        with self._appending():
            self._catch_up()
            out = bytearray()
            lines, last_hash, high_water = self.lines, self.last_hash, dict(self.high_water)
            first_hash = None
            for entry in entries:
                fields = {**entry, "seq": lines + 1, "prev": last_hash}
                fields["hash"] = line_hash(fields)
                out += canonical(fields) + b"\n"
                lines, last_hash = fields["seq"], fields["hash"]
                if lines == 1:
                    first_hash = last_hash
                if "topic" in entry:
                    key = (str(entry["topic"]), int(entry["partition"]))
                    high_water[key] = max(high_water.get(key, -1), int(entry["offset"]))
            self._file.write(out)
            self._file.flush()
            os.fsync(self._file.fileno())
            # Only a durable write moves the chain on.
            self.lines, self.last_hash, self.high_water = lines, last_hash, high_water
            if first_hash is not None:
                self.hashes[1] = first_hash
            self._size += len(out)

    def close(self) -> None:
        self._file.close()
        os.close(self._lock)
