"""`vigil up`: the whole system on one machine, each stage in its own process.

Starts the local Kafka broker and Redis when nothing answers at the configured addresses,
creates the topics, fetches and verifies the model weights, then runs the gateway, both model
processors, the decision app and the three sinks as child processes. A child that dies is
restarted (a few times, with a pause); Ctrl-C or SIGTERM stops every child cleanly and then the
local servers that this command started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vigil.core import metrics
from vigil.core.settings import Settings
from vigil.core.stages import STAGES, supervisor_metrics_port
from vigil.core.topics import create_topics
from vigil.local import infra

log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0


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
    """One supervised stage process."""

    name: str
    args: list[str]
    metrics_port: int
    restarts: RestartWindow
    proc: subprocess.Popen[bytes] | None = None

    def start(self, run_dir: Path) -> None:
        cmd = [sys.executable, "-m", "vigil.apps.cli", *self.args,
               "--metrics-port", str(self.metrics_port)]
        # The children's output goes to stderr, so stdout carries only `vigil up`'s own lines
        # (URL, ready, stopped), which a caller may stop reading once it is ready.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr)
        # Operators (and the crash tests) find each stage's pid here.
        (run_dir / f"{self.name}.pid").write_text(f"{self.proc.pid}\n")
        log.info("started %s pid=%d metrics=%d", self.name, self.proc.pid, self.metrics_port)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        if not self.alive():
            return False
        if not self.metrics_port:
            return True
        url = f"http://127.0.0.1:{self.metrics_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False


def stage_children(settings: Settings) -> list[Child]:
    """One process per entry of the stage table, each with the table's metrics port."""
    return [
        Child(entry.name, entry.command, entry.metrics_port(settings),
              RestartWindow(settings.restart_max, settings.restart_window_s))
        for entry in STAGES
    ]


def _ensure_infra(settings: Settings) -> bool:
    """Start the local servers unless both already answer. True if this call started any."""
    servers = infra.local_servers(settings)
    if all(server.ping() for server in servers):
        log.info("using the Kafka broker at %s and Redis at %s", settings.kafka_bootstrap,
                 settings.redis_url)
        return False
    infra.infra_up(settings)
    return True


def _stop_children(children: list[Child]) -> None:
    for child in children:
        if child.alive():
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s; killing it", child.name, STOP_GRACE_S)
            child.proc.kill()
            child.proc.wait()


def _wait_ready(children: list[Child], stop: threading.Event, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not stop.is_set() and time.monotonic() < deadline:
        dead = [c.name for c in children if not c.alive()]
        if dead:
            log.error("exited during start-up: %s", ", ".join(dead))
            return False
        if all(c.healthy() for c in children):
            return True
        time.sleep(0.5)
    return False


def _supervise(children: list[Child], stop: threading.Event, run_dir: Path) -> int:
    while not stop.wait(1.0):
        for child in children:
            metrics.STAGE_PROCESSES.labels(child.name).set(1 if child.alive() else 0)
            if child.alive() or stop.is_set():
                continue
            code = child.proc.returncode if child.proc else None
            window = child.restarts
            if not window.allow(time.monotonic()):
                log.error("%s exited (code %s) %d times within %.0f s; stopping Vigil",
                          child.name, code, window.max_restarts + 1, window.window_s)
                return 1
            metrics.STAGE_RESTARTS.labels(child.name).inc()
            log.warning("%s exited with code %s; restart %d of %d allowed within %.0f s",
                        child.name, code, len(window.times), window.max_restarts,
                        window.window_s)
            if stop.wait(window.backoff_s()):
                break
            child.start(run_dir)
    return 0


def run_up(settings: Settings, ready_timeout_s: float = 300.0) -> int:
    """Run every stage until Ctrl-C or SIGTERM; returns the exit code."""
    from vigil.core.weights import fetch_weights

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    started_infra = _ensure_infra(settings)
    children = stage_children(settings)
    server = None
    try:
        create_topics(settings)
        fetch_weights(settings)
        env_note = os.environ.get("VIGIL_CONFIG", "environment and defaults")
        log.info("settings from %s", env_note)
        run_dir = settings.state_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        server = metrics.serve_metrics(supervisor_metrics_port(settings), settings.metrics_host)
        for child in children:
            child.start(run_dir)
        if not _wait_ready(children, stop, ready_timeout_s):
            if stop.is_set():
                return 130
            log.error("Vigil did not become ready; see the log lines above")
            return 1
        from ingest.protocol import page_url, stream_url

        print(f"WebSocket: {stream_url(settings)}\nBrowser client: {page_url(settings)}",
              flush=True)
        print(f"vigil ready: {len(children)} processes (metrics from port "
              f"{settings.metrics_port_base}); Ctrl-C stops them", flush=True)
        return _supervise(children, stop, run_dir)
    finally:
        _stop_children(children)
        if server is not None:
            server.shutdown()
        if started_infra:
            infra.infra_down(settings)
        print("vigil stopped", flush=True)
