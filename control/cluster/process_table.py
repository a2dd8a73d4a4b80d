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

from vigil.core.flow import STAGES
from vigil.core.flow_types import stage_of
from vigil.core.settings import Settings

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
    return settings.deployment.state_dir / "run"


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


def pid_files(settings: Settings, servers: bool = False) -> list[tuple[str, int]]:
    """(name, pid) of every pid file of `vigil up`'s stage processes (STATE_DIR/run/); with
    ``servers``, of the local servers `vigil infra` started instead (``kafka``, ``redis``:
    STATE_DIR/NAME/NAME.pid). The pids may be gone: callers ask psutil."""
    folder = run_dir(settings)
    if servers:
        paths = sorted(
            p for p in settings.deployment.state_dir.glob("*/*.pid") if p.parent != folder
        )
    else:
        paths = sorted(folder.glob("*.pid")) if folder.is_dir() else []
    return [(path.stem, pid) for path in paths if (pid := read_pid(path))]


def stack_processes(settings: Settings) -> list[ProcessMemory]:
    """Every live process named by a pid file of `vigil up` (stage processes only)."""
    found = [memory for name, pid in pid_files(settings)
             if (memory := process_memory(name, pid)) is not None]
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
    ``servers``, the local servers' instead (see :func:`pid_files`)."""
    used = {}
    for name, pid in pid_files(settings, servers):
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[name] = times.user + times.system
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
