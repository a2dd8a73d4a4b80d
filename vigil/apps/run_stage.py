"""The one runner: any stage of the flow table, run in this process from its entry.

A consumer stage's builder returns a :class:`~vigil.core.flow_types.Handler` (a batch in,
its output durable when it returns); the runner builds the consumer loop around it from the
table entry (inputs, consumer group, batch size and deadline), so no stage restates them. A
stage that runs itself (the gateway, the decide Faust app) returns a ``Runnable``. Either way
the runner adds what every stage gets: signals, the heartbeat (stages that beat), /metrics
and /healthz, and the profile when ``profile_dir`` is set.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

from confluent_kafka import KafkaException, Message, Producer

from control.cluster.heartbeat import Heartbeat
from vigil.core.flow_types import Handler, Runnable, Stage, StageIO, inputs_of
from vigil.core.metrics import serve_metrics
from vigil.core.settings import Settings
from vigil.core.stage_loop import StageLoop, dead_letter

log = logging.getLogger(__name__)


@dataclass
class ConsumerStage:
    """A handler in its consumer loop: a ``Runnable`` (open, loop until stopped, close)."""

    handler: Handler
    loop: StageLoop

    @property
    def device(self) -> str:
        return self.handler.device

    def run(self) -> int:
        self.handler.open()
        try:
            self.loop.run()
        finally:
            self.loop.stop.set()
            self.handler.close()
        return 0

    def stop(self) -> None:
        self.loop.stop.set()

    def healthy(self) -> bool:
        return not self.loop.stop.is_set()


def consumer_stage(entry: Stage, settings: Settings, handler: Handler,
                   io: StageIO | None = None, group_id: str | None = None) -> ConsumerStage:
    """``handler`` in the consumer loop its table entry describes (``group_id`` overrides
    the entry's group: tests give each run its own)."""
    io = io or StageIO()
    if entry.batch_size is None:
        raise TypeError(f"stage {entry.name} is not a consumer stage (no batch size)")
    producers: list[Producer] = []  # the dead-letter producer, made on the first poison

    def poison(msg: Message, error: str) -> None:
        if not producers:
            producers.append(io.producer(settings))
        dead_letter(producers[0], settings, msg, error, entry.name)
        if producers[0].flush(30) > 0:
            raise KafkaException(f"{entry.name}: a dead letter not delivered within 30 s")

    loop = StageLoop(settings, entry.name, inputs_of(entry, settings),
                     group_id or entry.group(settings), handler.handle,
                     batch_size=entry.batch_size(settings),
                     batch_deadline_s=entry.batch_deadline_s(settings), stop=io.stop,
                     consumers=io.consumer, poison=poison)
    return ConsumerStage(handler, loop)


def build_stage(entry: Stage, settings: Settings, io: StageIO | None = None) -> Runnable:
    """The entry's builder called, and a handler put in its consumer loop."""
    io = io or StageIO()
    built = entry.build(settings, io)
    if isinstance(built, Runnable):
        return built
    return consumer_stage(entry, settings, built, io)


def run_stage(entry: Stage, settings: Settings, metrics_port: int | None = None) -> int:
    """Run one stage in this process: build it, signals, heartbeat, metrics, run.

    SIGTERM and SIGINT ask the stage to stop (it finishes its batch and commits). Stages that
    beat heartbeat into Redis while they run. ``metrics_port`` None means the table's port;
    0 turns /metrics and /healthz off.
    """
    runnable = build_stage(entry, settings)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stage=%s signal %d: stopping after the current batch", entry.name, signum)
        stopped.set()
        runnable.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    healthy = runnable.healthy
    if entry.beats:
        device = str(getattr(runnable, "device", "cpu"))
        beat = Heartbeat.start_for_stage(settings, entry, device, stopped)
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
