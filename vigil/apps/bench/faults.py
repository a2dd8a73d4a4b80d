"""`vigil bench faults`: the fault matrix, longer, with its table printed.

It runs a `vigil up` of its own, so it may break any part of it: its own namespace, state
folder (``--state-dir``), gateway and metrics ports and Redis (started by `vigil up` on a free
port), on the Kafka of the settings (`vigil up` starts a local broker when none answers).
It enrolls the bench clients, streams webcam-like frames of the enrolled person and of an
empty table (so some decisions are not ``allow`` and leave evidence) while each part fails in
turn, then prints the table of tests/faults/ (frames, decided, errors, cut, lost, duplicated,
audit and evidence checks, recovery seconds). Exit code 0 when no frame was lost or answered
twice and every decision was audited, with evidence where due.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.apps.bench import TESTDATA
from vigil.apps.client import webcam_frames
from vigil.apps.faults.client import SteadyClient
from vigil.apps.faults.matrix import CaseCount, Phases, count_cases, run_matrix, table
from vigil.apps.faults.outputs import check_outputs, sinks_caught_up
from vigil.apps.faults.stack import CASES, LocalStack
from vigil.apps.up_process import UpError, UpProcess, settings_from_env
from vigil.core.flow_types import PORT_STRIDE
from vigil.core.settings import Settings, load_settings
from vigil.local.servers import free_port, port_block

READY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class BenchFaults:
    """What to run: clients, rate, phases, cases, pictures and where the stack lives."""

    clients: int
    fps: float
    phases: Phases
    cases: Sequence[str]
    enroll_image: Path
    images: Sequence[Path]
    state_dir: Path


def bench_env(settings: Settings, state_dir: Path) -> dict[str, str]:
    """The environment of the bench's own `vigil up` (the user's settings, own places)."""
    env = dict(os.environ)
    ports = port_block(1 + PORT_STRIDE)  # the gateway's, then the stage table's metrics ports
    env.update({
        "VIGIL_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
        "VIGIL_NAMESPACE": f"faultbench{os.getpid()}",
        "VIGIL_STATE_DIR": str(state_dir.resolve()),
        "VIGIL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "VIGIL_GATEWAY_HOST": "127.0.0.1",
        "VIGIL_GATEWAY_PORT": str(ports),
        "VIGIL_METRICS_PORT_BASE": str(ports + 1),
    })
    return env


def _enroll(up: UpProcess, client_id: str, image: Path) -> str:
    for args in (("enroll", client_id, str(image)), ("token", "issue", client_id)):
        result = up.vigil(*args)
        if result.returncode != 0:
            why = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UpError(f"vigil {' '.join(args)} failed: {why}")
    return result.stdout.strip().splitlines()[-1]


def run_bench_faults(settings: Settings, bench: BenchFaults) -> int:
    """Run the matrix against a `vigil up` of its own; print the table; 0 when all held."""
    env = bench_env(settings, bench.state_dir)
    stack_settings = settings_from_env(env)
    up = UpProcess(env, echo=True)
    stack = LocalStack(up, stack_settings, READY_TIMEOUT_S)
    up.start()
    try:
        up.wait_ready(READY_TIMEOUT_S)  # it fetches the weights enrollment needs
        tokens = {f"fault-{i}": _enroll(up, f"fault-{i}", bench.enroll_image)
                  for i in range(1, bench.clients + 1)}
        url = f"ws://127.0.0.1:{stack_settings.gateway.port}/v1/stream"
        frames = webcam_frames(list(bench.images), quality=80)
        clients = [SteadyClient(url, c, t, frames, bench.fps) for c, t in tokens.items()]
        faults = stack.faults()
        chosen = [faults[c] for c in bench.cases if c in faults]
        skipped = [c for c in bench.cases if c not in faults]
        print(f"streaming {bench.clients} clients x {bench.fps:g} fps; cases: "
              f"{', '.join(f.name for f in chosen)}"
              + (f" (cannot run here: {', '.join(skipped)})" if skipped else ""), flush=True)
        windows = asyncio.run(run_matrix(clients, chosen, bench.phases,
                                         sinks_caught_up(stack_settings)))
        rows = count_cases(windows, clients)
        check_outputs(stack_settings, windows, clients, rows)
    finally:
        up.stop()
    for line in table(rows):
        print(line)
    return 0 if all(_held(r) for r in rows) else 1


def _held(row: CaseCount) -> bool:
    return not (row.lost or row.duplicated or row.audit_missing or row.evidence_missing)


def _command(args: argparse.Namespace) -> int:
    from vigil.apps.client import image_paths

    testdata = TESTDATA
    images = image_paths(args.images or [testdata / "faces" / "obama_2.jpg",
                                         testdata / "faces" / "obama_3.jpg",
                                         testdata / "faces" / "obama_4.jpg",
                                         testdata / "objects" / "tflite_examples_table.jpg"])
    bench = BenchFaults(
        clients=args.clients, fps=args.fps,
        phases=Phases(before_s=args.before, after_s=args.after),
        cases=args.cases or list(CASES),
        enroll_image=Path(args.enroll_image or testdata / "faces" / "obama_1.jpg"),
        images=images, state_dir=Path(args.state_dir))
    return run_bench_faults(load_settings(args.config), bench)


def register(bench_sub: argparse._SubParsersAction) -> None:
    """`vigil bench faults`."""
    faults = bench_sub.add_parser(
        "faults", help="stream through a `vigil up` of its own while each part fails in turn")
    faults.add_argument("--clients", type=int, default=2)
    faults.add_argument("--fps", type=float, default=2.0, help="frames a second per client")
    faults.add_argument("--before", type=float, default=15.0,
                        help="seconds of streaming before each fault")
    faults.add_argument("--after", type=float, default=30.0,
                        help="seconds of streaming after each recovery")
    faults.add_argument("--cases", nargs="*", choices=CASES, metavar="CASE",
                        help=f"which cases, in order (default all: {' '.join(CASES)})")
    faults.add_argument("--images", nargs="*", help="frames to stream (default: obama_2..4 "
                        "and an empty table from ../shared/testdata)")
    faults.add_argument("--enroll-image", help="photo to enroll (default: obama_1)")
    faults.add_argument("--state-dir", default="bench-out/faults-state",
                        help="state folder of the bench's own `vigil up`")
    faults.set_defaults(handler=_command)
