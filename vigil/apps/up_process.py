"""`vigil up` as a child process: started with an environment, ready when it says so, stopped
as Ctrl-C stops it. The benchmarks and the end-to-end and fault tests run Vigil this way.

A reader thread collects the child's stdout (``vigil up`` prints only its own lines there:
the URL, ``vigil ready``, ``vigil stopped``), so waiting for readiness is bounded in time even
when the child prints nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from vigil.core.errors import VigilError
from vigil.core.settings import Settings, load_settings

log = logging.getLogger(__name__)

READY_LINE = "vigil ready"
STOPPED_LINE = "vigil stopped"
CLI = [sys.executable, "-m", "vigil.apps.cli"]


class UpError(VigilError, RuntimeError):
    """`vigil up` did not start, or did not stop cleanly."""


class UpProcess:
    """One `vigil up` child; :meth:`start`, :meth:`wait_ready`, :meth:`stop`."""

    def __init__(self, env: dict[str, str] | None = None, echo: bool = False,
                 log_file: Path | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.echo = echo  # print the child's lines as they come (benchmarks)
        self.log_file = log_file  # the stages' log (stderr), else this process's stderr
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def state_dir(self) -> Path:
        return Path(self.env.get("VIGIL_STATE_DIR", ".state"))

    def start(self) -> None:
        self.lines, self._ready = [], threading.Event()
        stderr = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            stderr = self.log_file.open("a")
        try:
            self.proc = subprocess.Popen([*CLI, "up"], env=self.env, stdout=subprocess.PIPE,
                                         stderr=stderr, text=True)
        finally:
            if stderr is not None:
                stderr.close()  # the child holds its own copy
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True,
                                        name="vigil-up-stdout")
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.echo:
                print(f"[vigil up] {line.rstrip()}", flush=True)
            if line.startswith(READY_LINE):
                self._ready.set()

    def wait_ready(self, timeout_s: float) -> None:
        """Return once `vigil up` printed its ready line; UpError if it exits or is late."""
        assert self.proc is not None, "start() first"
        waited = 0.0
        while not self._ready.wait(1.0):
            waited += 1.0
            if self.proc.poll() is not None:
                raise UpError(f"`vigil up` exited with {self.proc.returncode} before it was "
                              "ready; its stderr says why")
            if waited >= timeout_s:
                raise UpError(f"`vigil up` was not ready within {timeout_s:.0f} s")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 120.0) -> int:
        """SIGINT (what Ctrl-C sends), wait; returns the exit code (killed after the timeout:
        UpError)."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
            raise UpError(f"`vigil up` did not stop within {timeout_s:.0f} s; killed") from None
        if self._reader is not None:
            self._reader.join(10)
        return code

    def stopped_cleanly(self) -> bool:
        """Whether the last stop printed ``vigil stopped`` (every child stopped)."""
        return any(line.startswith(STOPPED_LINE) for line in self.lines)

    def vigil(self, *args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run one `vigil` command with the same environment."""
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout_s, check=False)


def settings_from_env(env: dict[str, str]) -> Settings:
    """The settings a `vigil up` started with ``env`` reads from its VIGIL_ variables."""
    return load_settings(env.get("VIGIL_CONFIG"), **{
        k[len("VIGIL_"):].lower(): v for k, v in env.items()
        if k.startswith("VIGIL_") and k != "VIGIL_CONFIG"})
