"""The processes `vigil up` supervises: one :class:`Child` per running process of a stage.

A stage runs one process, or for the model stages between a minimum and a maximum (the
autoscaler decides). Replica 0 of a stage is named after it (``face``), the others
``face-1``, ``face-2`` ...; each has its own pid file in STATE_DIR/run/ (what `vigil status`
and the crash tests read) and its own metrics port from the stage table.
"""

from __future__ import annotations

import http.client
import logging
import signal
import subprocess
import sys
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vigil.core.flow import STAGES
from vigil.core.flow_types import Stage, process_name
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


class RestartWindow:
    """Restarts allowed within a rolling window (as Frigate's watchdog): a stage that dies
    now and then is restarted for ever; one that keeps dying stops Vigil."""

    def __init__(self, max_restarts: int, window_s: float) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Record a restart at ``now`` if the window has room; False when it is full."""
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()
        if len(self.times) >= self.max_restarts:
            return False
        self.times.append(now)
        return True

    def backoff_s(self) -> float:
        """Seconds to wait before the next start: 1, 2, 4, ... up to 10 within the window."""
        return float(min(10, 2 ** max(0, len(self.times) - 1)))


@dataclass
class Child:
    """One supervised process: a replica of a stage."""

    stage: str
    replica: int
    args: list[str]
    metrics_port: int
    restarts: RestartWindow
    proc: subprocess.Popen[bytes] | None = None
    leave_deadline: float | None = None  # set when asked to leave (the autoscaler's stop)

    @property
    def name(self) -> str:
        return process_name(self.stage, self.replica)

    @property
    def leaving(self) -> bool:
        return self.leave_deadline is not None

    def pid_file(self, run_dir: Path) -> Path:
        return run_dir / f"{self.name}.pid"

    def start(self, run_dir: Path) -> None:
        cmd = [sys.executable, "-m", "vigil.apps.cli", *self.args,
               "--metrics-port", str(self.metrics_port)]
        # The children's output goes to stderr, so stdout carries only `vigil up`'s own lines
        # (URL, ready, stopped), which a caller may stop reading once it is ready.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr)
        self.pid_file(run_dir).write_text(f"{self.proc.pid}\n")
        log.info("started %s pid=%d metrics=%d", self.name, self.proc.pid, self.metrics_port)

    def ask_to_leave(self, now: float, grace_s: float) -> None:
        """SIGTERM: the process finishes its batch, commits, leaves its consumer group."""
        self.leave_deadline = now + grace_s
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        return self.alive() and (not self.metrics_port or healthz_ok(self.metrics_port))


def healthz_ok(port: int) -> bool:
    """Whether the process serving /healthz on 127.0.0.1:``port`` says it is healthy."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):  # down, or not our server on that port
        return False


def new_child(entry: Stage, replica: int, settings: Settings) -> Child:
    """Replica ``replica`` of a stage (not started), with its own metrics port."""
    return Child(
        entry.name,
        replica,
        entry.command,
        entry.metrics_port(settings, replica),
        RestartWindow(settings.deployment.restart_max, settings.deployment.restart_window_s),
    )


def stage_children(settings: Settings) -> list[Child]:
    """The processes `vigil up` starts with: each stage's minimum (one for most stages)."""
    return [new_child(entry, replica, settings) for entry in STAGES
            for replica in range(settings.scaling.stage_process_bounds(entry.name)[0])]
