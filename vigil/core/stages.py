"""The stage table: every process of the flow declared once, and one way to run any of them.

A stage is one entry: its name, its kind, the function that builds it (``module:function``,
imported only when that stage runs, so ``vigil sink audit`` never imports torch) and its
place in the table, from which its metrics port follows. ``vigil up`` starts one process per
entry, ``vigil ingest``, ``vigil process NAME`` and ``vigil sink NAME`` run one entry in the
current process, all through :func:`run_stage`. Adding a stage is one entry here plus its
code (a builder returning a :class:`Runnable`).
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from vigil.core.errors import VigilError
from vigil.core.metrics import serve_metrics
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

PORT_STRIDE = 16  # replica r of the stage at index i serves metrics on base + r * 16 + i


class StageKind(Enum):
    """What a stage is; the CLI group that runs it alone follows from it."""

    GATEWAY = "ingest"  # `vigil ingest`
    PROCESSOR = "process"  # `vigil process NAME`: model consumer groups and the decide app
    SINK = "sink"  # `vigil sink NAME`


@runtime_checkable
class Runnable(Protocol):
    """What a stage's builder returns: run until stopped, stop from a signal, say if healthy."""

    def run(self) -> int:
        """Run until stopped; the process exit code."""
        ...

    def stop(self) -> None:
        """Ask ``run`` to return soon (called from a signal handler)."""
        ...

    def healthy(self) -> bool:
        """For /healthz."""
        ...


@dataclass(frozen=True)
class Stage:
    """One entry of the table."""

    name: str
    kind: StageKind
    builder: str  # "module:function", the function taking Settings and returning a Runnable
    heartbeat: bool = False  # model processors beat into Redis: capacity counts live ones
    description: str = ""

    @property
    def command(self) -> list[str]:
        """The `vigil` words that run this stage alone."""
        return [self.kind.value] if self.kind is StageKind.GATEWAY else [self.kind.value,
                                                                          self.name]

    def metrics_port(self, settings: Settings, replica: int = 0) -> int:
        """This stage's /metrics port, from its place in the table (0 when metrics are off)."""
        base = settings.observability.metrics_port_base
        return base + replica * PORT_STRIDE + STAGES.index(self) if base else 0

    def build(self, settings: Settings) -> Runnable:
        module, function = self.builder.split(":")
        factory: Callable[[Settings], object] = getattr(importlib.import_module(module),
                                                        function)
        built = factory(settings)
        if not isinstance(built, Runnable):
            raise TypeError(f"stage {self.name}: {self.builder} returned {type(built).__name__}, "
                            "not a Runnable")
        return built


STAGES: tuple[Stage, ...] = (
    Stage("gateway", StageKind.GATEWAY, "ingest.run:build",
          description="WebSocket gateway: admission, auth, frames to Kafka, replies back"),
    Stage("face", StageKind.PROCESSOR, "processors.face:build", heartbeat=True,
          description="face chain: detect, embed, liveness; FaceResult per frame"),
    Stage("phone", StageKind.PROCESSOR, "processors.phone:build", heartbeat=True,
          description="phone detector; PhoneResult per frame"),
    Stage("decide", StageKind.PROCESSOR, "processors.decide.worker:build",
          description="Faust app joining face and phone results into decisions"),
    Stage("evidence", StageKind.SINK, "sinks.evidence:build",
          description="encrypted evidence for every non-allow decision"),
    Stage("audit", StageKind.SINK, "sinks.audit:build",
          description="hash-chained audit log of decisions and control events"),
    Stage("replies", StageKind.SINK, "sinks.replies:build",
          description="decisions back to the gateway holding the client's socket"),
)
assert len(STAGES) <= PORT_STRIDE


class UnknownStageError(VigilError):
    """A stage name that is not in the table."""


def stage(name: str) -> Stage:
    """The table entry called ``name``."""
    for entry in STAGES:
        if entry.name == name:
            return entry
    raise UnknownStageError(f"no stage called {name!r}; the stages are "
                            f"{', '.join(s.name for s in STAGES)}")


def supervisor_metrics_port(settings: Settings) -> int:
    """`vigil up`'s own /metrics (restarts, processes per stage): the table's last slot."""
    return (
        settings.observability.metrics_port_base + PORT_STRIDE - 1
        if settings.observability.metrics_port_base
        else 0
    )


def process_name(stage_name: str, replica: int) -> str:
    """``face`` for replica 0 of a stage, ``face-1`` for replica 1 ... (pid files, status)."""
    return stage_name if replica == 0 else f"{stage_name}-{replica}"


def stage_of(name: str) -> str:
    """The stage a process name belongs to (``face-2`` -> ``face``)."""
    base, _, replica = name.rpartition("-")
    return base if base and replica.isdigit() else name


def names(kind: StageKind) -> list[str]:
    return [s.name for s in STAGES if s.kind is kind]


def run_stage(entry: Stage, settings: Settings, metrics_port: int | None = None) -> int:
    """Run one stage in this process: build it, signals, heartbeat, metrics, run.

    SIGTERM and SIGINT ask the stage to stop (it finishes its batch and commits). Model
    processors heartbeat into Redis while they run. ``metrics_port`` None means the table's
    port; 0 turns /metrics and /healthz off.
    """
    runnable = entry.build(settings)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stage=%s signal %d: stopping after the current batch", entry.name, signum)
        stopped.set()
        runnable.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    healthy = runnable.healthy
    if entry.heartbeat:
        from control.cluster.heartbeat import Heartbeat

        device = str(getattr(runnable, "device", "cpu"))
        beat = Heartbeat.start_for_processor(settings, entry.name, device, stopped)
        healthy = beat.alive
    port = entry.metrics_port(settings) if metrics_port is None else metrics_port
    server = serve_metrics(port, settings.observability.metrics_host, healthy=healthy)
    try:
        code = (
            _run_profiled(entry, runnable, settings)
            if settings.observability.profile_dir
            else runnable.run()
        )
    finally:
        stopped.set()
        if server is not None:
            server.shutdown()
    log.info("stage=%s stopped exit_code=%d", entry.name, code)
    return code


def _run_profiled(entry: Stage, runnable: Runnable, settings: Settings) -> int:
    """Run under cProfile (the main thread: the stage loop or the Faust event loop) and
    write PROFILE_DIR/STAGE-PID.prof when it returns.

    The clock is the process's CPU time (all its threads: torch's, librdkafka's), so each
    function is charged what it cost the machine, not how long it waited for a core — on
    shared cores the two differ by an order of magnitude.
    """
    import cProfile
    import os
    import time

    assert settings.observability.profile_dir is not None
    settings.observability.profile_dir.mkdir(parents=True, exist_ok=True)
    path = settings.observability.profile_dir / f"{entry.name}-{os.getpid()}.prof"
    profile = cProfile.Profile(time.process_time)
    try:
        return int(profile.runcall(runnable.run))
    finally:
        profile.dump_stats(str(path))
        log.info("stage=%s profile written to %s", entry.name, path)
