"""Vigil on three hosts of one machine (vigil/local/hosts.py), each process by address only.

brokers: the Kafka node and Redis (`vigil infra up` run there, listening on its address);
app: the gateway, decide and the sinks; models: the face and phone processors. Each stage is
its own process (`vigil ingest`, `vigil process face` ...), as one Deployment per stage on
Kubernetes; they share the machine's files only (state folder, SQLite user database, weights).
Clients stream from the machine itself, outside the hosts, through the gateway's address. The
faults cut one host's link for CUT_S and restore it; the fault matrix's client, run and
counts (vigil/apps/faults/) say what became of every frame.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Infra, require_testdata
from tests.faults.conftest import CLIENTS, ENROLLED, STREAM, enroll_clients
from tests.stack import up_env
from vigil.apps.client import webcam_frames
from vigil.apps.faults.client import SteadyClient
from vigil.apps.faults.matrix import CaseCount, Fault, Phases, count_cases, run_matrix, table
from vigil.apps.faults.outputs import check_outputs, sinks_caught_up
from vigil.apps.up_process import CLI, UpProcess, settings_from_env
from vigil.core.flow import STAGES
from vigil.core.flow_types import Stage
from vigil.core.settings import Settings
from vigil.local.hosts import Host, Hosts, namespaces_usable
from vigil.local.servers import port_answers

CUT_S = 10.0
PHASES = Phases(before_s=3.0, after_s=3.0, recovery_timeout_s=120.0, steady_timeout_s=120.0,
                settle_timeout_s=60.0)
READY_TIMEOUT_S = 300.0
ON_HOST = {"app": ("gateway", "decide", "evidence", "audit", "replies"),
           "models": ("face", "phone")}
KAFKA_PORT, REDIS_PORT, GATEWAY_PORT = 9092, 6379, 8765  # each host has its own ports
assert {s for names in ON_HOST.values() for s in names} == {s.name for s in STAGES}
__all__ = ["ENROLLED"]


@dataclass(frozen=True)
class MultiHostRun:
    rows: dict[str, CaseCount]
    log: Path


def _stage_up(host: Host, entry: Stage, settings: Settings) -> bool:
    url = f"http://{host.address}:{entry.metrics_port(settings)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _wait(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s:.0f} s")
        time.sleep(0.5)


class Layout:
    """The hosts, the processes started on them, and the faults done to them."""

    def __init__(self, hosts: Hosts, env: dict[str, str], log: Path) -> None:
        self.hosts, self.env, self.log = hosts, env, log
        self.settings = settings_from_env(env)
        self.procs: list[subprocess.Popen[bytes]] = []

    def vigil(self, role: str, *args: str, timeout_s: float = 300.0) -> None:
        done = subprocess.run(self.hosts[role].command([*CLI, *args]), env=self.env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)
        assert done.returncode == 0, f"vigil {args} on {role}: {done.stdout}{done.stderr}"

    def start_stages(self) -> None:
        with self.log.open("ab") as out:
            for role, names in ON_HOST.items():
                for entry in (s for s in STAGES if s.name in names):
                    argv = [*CLI, *entry.command, "--metrics-port",
                            str(entry.metrics_port(self.settings))]
                    self.procs.append(subprocess.Popen(self.hosts[role].command(argv),
                                                       env=self.env, stdout=out, stderr=out))

    def ready(self) -> bool:
        return all(self.stage_up(s.name) for s in STAGES)

    def stage_up(self, name: str) -> bool:
        role = next(r for r, names in ON_HOST.items() if name in names)
        return _stage_up(self.hosts[role], next(s for s in STAGES if s.name == name),
                         self.settings)

    def brokers_up(self) -> bool:
        address = self.hosts["brokers"].address
        return port_answers(KAFKA_PORT, address) and port_answers(REDIS_PORT, address)

    def link_cut(self, role: str, back: list[str]) -> Fault:
        def inject() -> None:
            self.hosts.cut(role)
            time.sleep(CUT_S)
            self.hosts.restore(role)
        return Fault(f"{role}-link", inject,
                     lambda: self.brokers_up() and all(self.stage_up(n) for n in back))

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture(scope="module")
def multihost(fetched_weights: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[MultiHostRun]:
    why_not = namespaces_usable()
    if why_not:
        pytest.skip(f"the multi-host layout needs network namespaces: {why_not}")
    testdata = require_testdata()
    prefix, subnet = f"vg{os.getpid() % 100_000}", 100 + os.getpid() % 150
    state = tmp_path_factory.mktemp("multihost")
    with Hosts(["brokers", "app", "models"], prefix, subnet) as hosts:
        brokers, app = hosts["brokers"].address, hosts["app"].address
        infra = Infra(f"{brokers}:{KAFKA_PORT}", f"redis://{brokers}:{REDIS_PORT}/0", "netns")
        env = up_env(infra, "vigil", state, fetched_weights)
        env.update({"VIGIL_KAFKA_CONTROLLER_PORT": str(KAFKA_PORT + 1),
                    "VIGIL_GATEWAY_HOST": app, "VIGIL_GATEWAY_PORT": str(GATEWAY_PORT),
                    "VIGIL_METRICS_HOST": "0.0.0.0", "VIGIL_METRICS_PORT_BASE": "9400"})
        layout = Layout(hosts, env, state / "stages.log")
        layout.vigil("brokers", "infra", "up")
        try:
            layout.vigil("app", "topics", "create")
            layout.start_stages()
            tokens = enroll_clients(UpProcess(env), layout.settings)  # while they load
            _wait(layout.ready, READY_TIMEOUT_S, "every stage's /healthz")
            frames = webcam_frames([testdata / name for name in STREAM], quality=60)
            url = f"ws://{app}:{GATEWAY_PORT}/v1/stream"
            clients = [SteadyClient(url, c, tokens[c], frames, 1.0) for c in CLIENTS]
            faults = [layout.link_cut("models", ["face", "phone"]),
                      layout.link_cut("brokers", [s.name for s in STAGES])]
            windows = asyncio.run(run_matrix(clients, faults, PHASES,
                                             sinks_caught_up(layout.settings)))
            rows = count_cases(windows, clients)
            check_outputs(layout.settings, windows, clients, rows)
            print("\n".join(table(rows)))
        finally:
            layout.stop()
            layout.vigil("brokers", "infra", "down")
        yield MultiHostRun({r.case: r for r in rows}, layout.log)
