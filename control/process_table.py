"""The processes `vigil up` runs on this machine, from its pid files, with their memory.

`vigil up` writes one pid file per process in STATE_DIR/run/ (``face.pid``, ``face-1.pid``
for a second face process ...). For each live one this reads, with psutil, the resident set
(RSS: every page the process has in memory, shared libraries included) and, where the
kernel shows it (Linux, same user), the proportional set (PSS: shared pages split between
the processes sharing them). The sum of RSS counts torch's libraries once per process that
maps them; the sum of PSS is what the stack really holds.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

from vigil.core.settings import Settings
from vigil.core.stages import STAGES, stage_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessMemory:
    """One process of the stack and the memory it holds (bytes; pss None when unreadable)."""

    name: str
    pid: int
    rss: int
    pss: int | None

    @property
    def stage(self) -> str:
        return stage_of(self.name)


def run_dir(settings: Settings) -> Path:
    return settings.state_dir / "run"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_memory(name: str, pid: int) -> ProcessMemory | None:
    """RSS and PSS of a live process; None when it is gone (a stale pid file)."""
    try:
        proc = psutil.Process(pid)
        try:
            full = proc.memory_full_info()
            return ProcessMemory(name, pid, full.rss, getattr(full, "pss", None))
        except psutil.AccessDenied:
            return ProcessMemory(name, pid, proc.memory_info().rss, None)
    except psutil.NoSuchProcess:
        return None


def stack_processes(settings: Settings) -> list[ProcessMemory]:
    """Every live process named by a pid file of `vigil up` (stage processes only)."""
    found = []
    folder = run_dir(settings)
    for path in sorted(folder.glob("*.pid")) if folder.is_dir() else []:
        pid = read_pid(path)
        memory = process_memory(path.stem, pid) if pid else None
        if memory is not None:
            found.append(memory)
    return sorted(found, key=_table_order)


def _table_order(process: ProcessMemory) -> tuple[int, int]:
    """Stages in the table's order, then replicas by number (face, face-1, face-2 ...)."""
    order = [s.name for s in STAGES]
    place = order.index(process.stage) if process.stage in order else len(order)
    suffix = process.name.removeprefix(process.stage).removeprefix("-")
    return place, int(suffix) if suffix.isdigit() else 0


def cpu_seconds(settings: Settings, servers: bool = False) -> dict[str, float]:
    """CPU seconds (user + system, all threads) each live process of the stack has used so
    far, by process name; read twice, the difference is what a stretch of work cost. With
    ``servers``, the local servers `vigil infra` started instead (``kafka``, ``redis``: their
    pid files under the state folder)."""
    used = {}
    folder = run_dir(settings)
    if servers:
        paths = sorted(p for p in settings.state_dir.glob("*/*.pid") if p.parent != folder)
    else:
        paths = sorted(folder.glob("*.pid")) if folder.is_dir() else []
    for path in paths:
        pid = read_pid(path)
        try:
            times = psutil.Process(pid).cpu_times() if pid else None
        except psutil.NoSuchProcess:
            times = None
        if times is not None:
            used[path.stem] = times.user + times.system
    return used


def machine_busy_seconds() -> float:
    """CPU seconds this machine's cores have been busy (not idle, not waiting on I/O) since
    boot, all processes together: read twice, the broker's, Redis's and a bench client's
    share show beside the stack's."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def per_stage(processes: list[ProcessMemory]) -> Counter[str]:
    """How many live processes each stage has."""
    return Counter(p.stage for p in processes)


def totals(processes: list[ProcessMemory]) -> tuple[int, int | None]:
    """Summed RSS, and summed PSS (None when any process's PSS was unreadable)."""
    pss = [p.pss for p in processes]
    return (sum(p.rss for p in processes),
            None if None in pss else sum(v for v in pss if v is not None))


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"
