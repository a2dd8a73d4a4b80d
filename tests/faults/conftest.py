"""One run of the fault matrix for the whole module, and its table in the terminal summary.

The matrix streams through one `vigil up` of its own (its own namespace, ports, state folder
and Redis, which it may SIGKILL) on a three-broker Kafka cluster (the session's when it runs
one, ``VIGIL_KAFKA_BROKERS=3``, else one started here for the module: topics get three
copies, two in sync), while each stage process, then Redis, then one broker of three, then the
whole stack fails in turn (tests/faults/test_fault_matrix.py asserts per case). The stages'
log is STATE_DIR/vigil-up.log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control.clients import ClientControl
from control.users.repository import open_repository
from schemas.events import ControlKind
from tests.conftest import Infra, local_infra, require_testdata
from tests.e2e.up_harness import up_env
from vigil.apps.client import webcam_frames
from vigil.apps.faults.client import SteadyClient
from vigil.apps.faults.matrix import CaseCount, Phases, count_cases, run_matrix, table
from vigil.apps.faults.outputs import check_outputs, sinks_caught_up
from vigil.apps.faults.stack import BROKER_CASE, CASES, LocalStack, local_broker
from vigil.apps.up_process import UpProcess, settings_from_env
from vigil.core.settings import Settings
from vigil.local.servers import free_port

# Short phases: the whole matrix must fit in minutes of a 2-core machine.
PHASES = Phases(before_s=3.0, after_s=3.0, recovery_timeout_s=300.0, steady_timeout_s=180.0,
                settle_timeout_s=60.0)
READY_TIMEOUT_S = 420.0  # model loading on a busy 2-core machine
ENROLLED = ("alice", ["faces/obama_1.jpg", "faces/obama_2.jpg"])
CLIENTS = ("alice", "bob")  # bob: a second device of the same person
STREAM = ["faces/obama_3.jpg", "faces/obama_4.jpg", "objects/tflite_examples_table.jpg"]
FPS = 1.0  # per client: 2 frames a second in all
BROKER_SKIP = ("no broker process of the cluster to kill: its last node does not run from "
               "this machine's state folder")
_TABLE: list[str] = []


@dataclass(frozen=True)
class MatrixRun:
    rows: dict[str, CaseCount]
    skipped: dict[str, str]  # case -> why it did not run
    log: Path  # the stages' log, for a failure's reader


def _vigil(up: UpProcess, *args: str) -> str:
    result = up.vigil(*args)
    assert result.returncode == 0, f"vigil {args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def enroll_clients(up: UpProcess, settings: Settings) -> dict[str, str]:
    """alice from her photos (the real chain), bob as a second device of hers (the same
    embeddings, no model to load again); a token each."""
    testdata = require_testdata()
    first, photos = ENROLLED
    _vigil(up, "enroll", first, *(str(testdata / p) for p in photos))
    repo = open_repository(settings)
    control = ClientControl(settings, repo)
    try:
        embeddings = repo.embeddings(first)
        assert embeddings is not None
        for client in CLIENTS[1:]:
            with control.change(client, ControlKind.ENROLLED, f"as {first}"):
                repo.ensure_client(client)
                repo.set_embeddings(client, embeddings)
        return {c: control.issue_token(c) for c in CLIENTS}
    finally:
        control.close()
        repo.close()


@pytest.fixture(scope="module")
def cluster(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """A local three-broker cluster: the session's, or one of this module's own."""
    if infra.settings is not None and infra.settings.kafka.local_nodes >= 3:
        yield infra
        return
    with local_infra(tmp_path_factory.mktemp("faults-cluster"), 3) as started:
        yield started


@pytest.fixture(scope="module")
def matrix(cluster: Infra, fetched_weights: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixRun]:
    testdata = require_testdata()
    env = up_env(cluster, f"faults{os.getpid()}", tmp_path_factory.mktemp("faults-state"),
                 fetched_weights, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    settings = settings_from_env(env)
    log = settings.deployment.state_dir / "vigil-up.log"
    up = UpProcess(env, log_file=log)
    stack = LocalStack(up, settings, READY_TIMEOUT_S)
    up.start()
    try:
        tokens = enroll_clients(up, settings)  # while the stack starts
        up.wait_ready(READY_TIMEOUT_S)
        frames = webcam_frames([testdata / name for name in STREAM], quality=60)
        url = f"ws://127.0.0.1:{settings.gateway.port}/v1/stream"
        clients = [SteadyClient(url, c, tokens[c], frames, FPS) for c in CLIENTS]
        assert cluster.settings is not None
        broker = local_broker(cluster.settings)
        faults = stack.faults(broker)
        windows = asyncio.run(run_matrix(clients, [faults[c] for c in CASES if c in faults],
                                         PHASES, sinks_caught_up(settings)))
        rows = count_cases(windows, clients)
        check_outputs(settings, windows, clients, rows)
        _TABLE[:] = table(rows)
        print("\n".join(_TABLE))
    finally:
        code = up.stop()
    assert code == 0 and up.stopped_cleanly(), (code, up.lines[-5:], log)
    yield MatrixRun({r.case: r for r in rows}, {} if broker else {BROKER_CASE: BROKER_SKIP},
                    log)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TABLE:
        terminalreporter.section("fault matrix")
        for line in _TABLE:
            terminalreporter.write_line(line)
