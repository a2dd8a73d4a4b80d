"""`vigil up`: the whole system on one machine, each stage in its own process.

Starts the local Kafka broker and Redis when nothing answers at the configured addresses,
creates the topics, fetches and verifies the model weights, then runs the gateway, both model
processors, the decision app and the three sinks as child processes (vigil/apps/children.py).
A child that dies is restarted (a few times, with a pause); the model stages run between their
minimum and maximum number of processes, as the autoscaler decides (vigil/apps/scaler.py);
Ctrl-C or SIGTERM stops every child cleanly and then the local servers that this command
started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from vigil.apps.capacity_hold import CapacityHold
from vigil.apps.children import Child, stage_children
from vigil.apps.scaler import Autoscaler
from vigil.core import metrics
from vigil.core.flow import STAGES, names, stage
from vigil.core.flow_types import StageKind, supervisor_metrics_port
from vigil.core.settings import Settings
from vigil.core.topics import create_topics
from vigil.local import infra

log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0


def _ensure_infra(settings: Settings) -> bool:
    """Start the local servers unless both already answer. True if this call started any."""
    servers = infra.local_servers(settings)
    if all(server.ping() for server in servers):
        log.info("using the Kafka broker at %s and Redis at %s", settings.kafka.bootstrap,
                 settings.redis.url)
        return False
    infra.infra_up(settings)
    return True


def _stop_children(children: list[Child]) -> None:
    """The gateways first (they wait for the decisions of the frames they took, which need
    every other stage), then the rest."""
    gateways = set(names(StageKind.GATEWAY))
    _stop_group([c for c in children if c.stage in gateways])
    _stop_group([c for c in children if c.stage not in gateways])


def _stop_group(children: list[Child]) -> None:
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


def _reap_leavers(children: list[Child], run_dir: Path, now: float) -> None:
    """Forget the processes the autoscaler stopped once they are gone (killed after grace)."""
    for child in [c for c in children if c.leaving]:
        assert child.proc is not None and child.leave_deadline is not None
        if child.alive() and now < child.leave_deadline:
            continue
        if child.alive():
            log.warning("%s did not leave within %.0f s; killing it", child.name, STOP_GRACE_S)
            child.proc.kill()
        code = child.proc.wait()
        log.info("%s left (exit code %s)", child.name, code)
        child.pid_file(run_dir).unlink(missing_ok=True)
        children.remove(child)


def _restart_dead(children: list[Child], stop: threading.Event, run_dir: Path,
                  capacity: CapacityHold | None = None) -> bool:
    """Restart every process that died; False when one died too often (stop Vigil). A model
    process that beats for capacity keeps it while it restarts (``capacity``)."""
    for child in children:
        if child.alive() or child.leaving or stop.is_set():
            continue
        code = child.proc.returncode if child.proc else None
        window = child.restarts
        if not window.allow(time.monotonic()):
            log.error("%s exited (code %s) %d times within %.0f s; stopping Vigil",
                      child.name, code, window.max_restarts + 1, window.window_s)
            return False
        metrics.STAGE_RESTARTS.labels(child.stage).inc()
        log.warning("%s exited with code %s; restart %d of %d allowed within %.0f s",
                    child.name, code, len(window.times), window.max_restarts, window.window_s)
        if capacity is not None and child.proc is not None and stage(child.stage).capacity:
            capacity.hold(child.stage, child.proc.pid)
        if stop.wait(window.backoff_s()):
            break
        child.start(run_dir)
    return True


def _export_processes(children: list[Child]) -> None:
    for entry in STAGES:
        metrics.STAGE_PROCESSES.labels(entry.name).set(
            sum(1 for c in children if c.stage == entry.name and not c.leaving))


def _supervise(children: list[Child], stop: threading.Event, run_dir: Path,
               scaler: Autoscaler, capacity: CapacityHold) -> int:
    while not stop.wait(1.0):
        _reap_leavers(children, run_dir, time.monotonic())
        if not _restart_dead(children, stop, run_dir, capacity):
            return 1
        scaler.tick(children, time.monotonic())
        _export_processes(children)
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
    scaler: Autoscaler | None = None
    try:
        create_topics(settings)
        fetch_weights(settings)
        env_note = os.environ.get("VIGIL_CONFIG", "environment and defaults")
        log.info("settings from %s", env_note)
        run_dir = settings.deployment.state_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        server = metrics.serve_metrics(
            supervisor_metrics_port(settings), settings.observability.metrics_host
        )
        for child in children:
            child.start(run_dir)
        _export_processes(children)
        if not _wait_ready(children, stop, ready_timeout_s):
            if stop.is_set():
                return 130
            log.error("Vigil did not become ready; see the log lines above")
            return 1
        from ingest.protocol import page_url, stream_url

        print(f"WebSocket: {stream_url(settings)}\nBrowser client: {page_url(settings)}",
              flush=True)
        print(f"vigil ready: {len(children)} processes (metrics from port "
              f"{settings.observability.metrics_port_base}); Ctrl-C stops them", flush=True)
        scaler = Autoscaler(settings, run_dir, STOP_GRACE_S)
        capacity = CapacityHold(settings)
        try:
            return _supervise(children, stop, run_dir, scaler, capacity)
        finally:
            capacity.close()
    finally:
        _stop_children(children)
        if scaler is not None:
            scaler.close()
        if server is not None:
            server.shutdown()
        if started_infra:
            infra.infra_down(settings)
        print("vigil stopped", flush=True)
