"""The Vigil under test and the faults done to it, one at a time.

:class:`LocalStack` is one `vigil up` child with its own state folder and ports. It owns the
local Redis that `vigil up` starts when none answers at ``redis_url``, so it may SIGKILL any
part of the system:

- a stage process (pid in STATE_DIR/run/NAME.pid): `vigil up` restarts it; it is back when
  the pid file names a new live process whose /healthz answers;
- Redis: SIGKILLed, its append-only files removed, started again empty after ``down_s``;
- one Kafka broker of three: SIGKILLed and started again after ``down_s``, through the
  :class:`BrokerControl` of whoever runs the cluster;
- the whole stack: `vigil up` stopped as Ctrl-C stops it, then started again.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vigil.apps.children import healthz_ok
from vigil.apps.up_process import UpProcess
from vigil.core.flow import STAGES, stage
from vigil.core.settings import Settings
from vigil.local.infra import LocalRedis
from vigil.local.kafka_cluster import LocalKafka, kafka_nodes

log = logging.getLogger(__name__)

REDIS_DOWN_S = 2.0
BROKER_DOWN_S = 10.0
STACK_CASE = "stack"
REDIS_CASE = "redis"
BROKER_CASE = "broker"
CASES = (*(s.name for s in STAGES), REDIS_CASE, BROKER_CASE, STACK_CASE)


class BrokerControl(Protocol):
    """One broker of a local cluster, for the broker case."""

    def kill(self) -> None: ...

    def start(self) -> None: ...

    def healthy(self) -> bool: ...


@dataclass(frozen=True)
class Fault:
    """One case: what to break (blocking; returns once broken, or broken and restarted for
    Redis, a broker and the stack) and how to tell the broken part serves again."""

    name: str
    inject: Callable[[], None]
    back: Callable[[], bool]


class LocalStack:
    """One `vigil up` child and the faults it can suffer; see the module docstring."""

    def __init__(self, up: UpProcess, settings: Settings, ready_timeout_s: float) -> None:
        self.up = up
        self.settings = settings
        self.ready_timeout_s = ready_timeout_s
        self.redis = LocalRedis(settings)

    def start(self) -> None:
        self.up.start()
        self.up.wait_ready(self.ready_timeout_s)

    def stage_pid(self, name: str) -> int | None:
        try:
            return int((self.settings.deployment.state_dir / "run" / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def kill_stage(self, name: str) -> int:
        pid = self.stage_pid(name)
        if pid is None:
            raise RuntimeError(
                f"no pid file for stage {name} under {self.settings.deployment.state_dir}"
            )
        os.kill(pid, signal.SIGKILL)
        log.info("fault: SIGKILL %s pid=%d", name, pid)
        return pid

    def stage_back(self, name: str, old_pid: int) -> bool:
        pid = self.stage_pid(name)
        return (pid is not None and pid != old_pid and _alive(pid)
                and healthz_ok(stage(name).metrics_port(self.settings)))

    def owns_redis(self) -> bool:
        return self.redis.pid() is not None

    def kill_redis(self, down_s: float = REDIS_DOWN_S) -> None:
        pid = self.redis.pid()
        if pid is None:
            raise RuntimeError(f"the Redis at {self.settings.redis.url} was not started by "
                               "this stack's `vigil up`")
        os.kill(pid, signal.SIGKILL)
        log.info("fault: SIGKILL redis pid=%d; back empty in %.0f s", pid, down_s)
        while self.redis.pid() is not None:
            time.sleep(0.05)
        for path in self.redis.root.glob("appendonly*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        time.sleep(down_s)
        self.redis.start()

    def restart(self) -> None:
        """Stop the whole stack as Ctrl-C does, then start it again."""
        log.info("fault: stopping the whole stack")
        code = self.up.stop()
        if code != 0 or not self.up.stopped_cleanly():
            raise RuntimeError(f"`vigil up` stopped with code {code}")
        self.start()

    def faults(self, broker: BrokerControl | None = None) -> dict[str, Fault]:
        """Every case this stack can run (the broker case only with a cluster)."""
        found: dict[str, Fault] = {}
        for entry in STAGES:
            found[entry.name] = self._stage_fault(entry.name)
        if self.owns_redis():
            found[REDIS_CASE] = Fault(REDIS_CASE, self.kill_redis, self.redis.ping)
        if broker is not None:
            found[BROKER_CASE] = Fault(BROKER_CASE, lambda: _kill_and_restart(broker),
                                       broker.healthy)
        found[STACK_CASE] = Fault(STACK_CASE, self.restart, self.up.running)
        return found

    def _stage_fault(self, name: str) -> Fault:
        killed: list[int] = []
        return Fault(name, lambda: killed.append(self.kill_stage(name)),
                     lambda: bool(killed) and self.stage_back(name, killed[-1]))


class LocalBroker:
    """One node of a local Kafka cluster (vigil/local/kafka_cluster.py), for the broker case."""

    def __init__(self, node: LocalKafka, ready_timeout_s: float = 120.0) -> None:
        self.node = node
        self.ready_timeout_s = ready_timeout_s

    def kill(self) -> None:
        pid = self.node.pid()
        if pid is None:
            raise RuntimeError(f"Kafka node {self.node.name} is not running here")
        os.kill(pid, signal.SIGKILL)
        log.info("fault: SIGKILL %s pid=%d", self.node.name, pid)
        while self.node.pid() is not None:
            time.sleep(0.05)

    def start(self) -> None:
        self.node.start()
        self.node.wait_ready(self.ready_timeout_s)

    def healthy(self) -> bool:
        return self.node.ping()


def local_broker(settings: Settings) -> LocalBroker | None:
    """The last node of the local cluster these settings describe, when it has three or
    more nodes (one may fail) and runs from this state folder; else None."""
    if settings.kafka.local_nodes < 3:
        return None
    node = kafka_nodes(settings)[-1]
    return LocalBroker(node) if node.pid() is not None else None


def _kill_and_restart(broker: BrokerControl, down_s: float = BROKER_DOWN_S) -> None:
    broker.kill()
    time.sleep(down_s)
    broker.start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
