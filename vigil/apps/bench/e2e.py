"""`vigil bench e2e`: simulated clients over real WebSockets against a running Vigil.

Enrolls one bench client per simulated client (in this process, through the control plane),
streams webcam-like frames of the enrolled person at the given rate, and prints for each step
the clients admitted at once and those that waited, sustained decisions per second, lost
frames and latency percentiles (client send -> decision received), plus a PNG plot.

When no gateway answers it starts ``vigil up`` itself, with the capacity raised to the most
clients of the run, so every client streams at once; against a running Vigil its capacity
applies, and queued clients are reported apart, with a warning. ``--find-max`` ramps the
clients until p95 passes a bound or a frame is lost and prints the knee. Every run also
measures the model-only ceiling (vigil/apps/bench/ceiling.py) and prints the end-to-end
efficiency: sustained decisions per second over that ceiling.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from control.cluster.process_table import cpu_seconds, machine_busy_seconds
from vigil.apps.bench.ceiling import ceiling_lines, load_phone, measure_ceiling
from vigil.apps.bench.report import StepSummary, plot_latency, summarize
from vigil.apps.client import StreamReport, stream_frames, webcam_frames
from vigil.apps.up_process import UpError, UpProcess
from vigil.core.errors import VigilError
from vigil.core.settings import Settings
from vigil.local.servers import port_answers

if TYPE_CHECKING:
    from processors.enroll import EnrollingChain

SETTLE_S = 5.0  # pause between ramp steps, so one step's tail does not load the next
STOP_TIMEOUT_S = 300.0  # `vigil up` stops each stage after its batch: slow on shared cores


class BenchError(VigilError):
    """The bench could not run (Vigil did not start, enrollment failed)."""


@dataclass(frozen=True)
class BenchPlan:
    """What to run: one step of ``clients``, or a ramp with ``find_max``."""

    clients: int
    fps: float
    duration_s: float
    images: list[Path]
    enroll_image: Path
    plot: Path
    find_max: bool = False
    ramp_step: int = 4
    max_clients: int = 64
    p95_bound_s: float = 2.0
    raise_capacity: bool = True

    def steps(self) -> list[int]:
        if not self.find_max:
            return [self.clients]
        return list(range(self.clients, self.max_clients + 1, self.ramp_step))


def start_vigil_up(capacity: int | None, timeout_s: float,
                   extra_env: dict[str, str] | None = None) -> UpProcess:
    """`vigil up` with this environment plus ``extra_env``, the capacity raised to
    ``capacity`` sessions (None: as configured); ready when it returns."""
    env = {**os.environ, **(extra_env or {})}
    if capacity is not None:
        # A raised capacity is a session count: the seed's rule, one face process one
        # pipeline of max_clients_per_pipeline sessions (the measured rule would queue them).
        env["VIGIL_ADMISSION_RULE"] = "sessions"
        env["VIGIL_MAX_CLIENTS_PER_PIPELINE"] = str(capacity)
    up = UpProcess(env, echo=True)
    up.start()
    try:
        up.wait_ready(timeout_s)
    except UpError as exc:
        up.stop(60)
        raise BenchError(f"{exc.message}; see its log lines above") from None
    return up



def enroll_bench_clients(settings: Settings, count: int, enroll_image: Path,
                         chain: EnrollingChain) -> list[tuple[str, str]]:
    """Enroll ``bench-1`` ... ``bench-N`` with one photo; return (client_id, token) pairs."""
    from control.clients import ClientControl
    from control.users.repository import open_repository
    from processors.enroll import enroll
    from processors.vision.imaging import read_image

    repo = open_repository(settings)
    control = ClientControl(settings, repo)
    pairs = []
    try:
        for index in range(1, count + 1):
            client_id = f"bench-{index}"
            report = enroll(settings, control, client_id, [enroll_image],
                            f"bench client {index}", chain=chain, read=read_image)
            if not report.accepted:
                raise BenchError(f"{enroll_image} cannot be enrolled: {report.refused}")
            pairs.append((client_id, control.issue_token(client_id)))
    finally:
        control.close()
        repo.close()
    return pairs


async def stream_all(url: str, clients: list[tuple[str, str]], frames: list[bytes],
                     fps: float, duration_s: float) -> list[StreamReport]:
    """Every client at once, each sending ``fps x duration_s`` frames once admitted."""
    per_client = max(1, int(fps * duration_s))
    cycle = [frames[i % len(frames)] for i in range(per_client)]
    return list(await asyncio.gather(*(
        stream_frames(url, client_id, token, cycle, fps=fps, reply_timeout_s=30)
        for client_id, token in clients
    )))


def stack_memory_line(settings: Settings) -> str:
    """The memory of this machine's `vigil up` processes (from their pid files) right now."""
    from control.cluster.process_table import mib, stack_processes, totals

    processes = stack_processes(settings)
    if not processes:
        return (
            f"stack memory: unknown (no live pid file in {settings.deployment.state_dir / 'run'})"
        )
    rss, pss = totals(processes)
    largest = ", ".join(f"{p.name} {mib(p.rss)}" for p in
                        sorted(processes, key=lambda p: -p.rss)[:2])
    return (f"stack memory: rss {mib(rss)}, pss {mib(pss)} over {len(processes)} processes "
            f"(largest rss: {largest})")


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds used so far: by each process of the stack, and by the whole machine."""

    by_process: dict[str, float]
    machine: float
    at: float  # time.monotonic()
    servers: dict[str, float] = field(default_factory=dict)  # the local Kafka and Redis

    @classmethod
    def now(cls, settings: Settings) -> CpuReading:
        return cls(cpu_seconds(settings), machine_busy_seconds(), time.monotonic(),
                   cpu_seconds(settings, servers=True))


def cpu_line(before: CpuReading, after: CpuReading, decided: int) -> str:
    """CPU milliseconds per decided frame of each stack process during a step, in all, and
    the machine's busy cores meanwhile (the broker, Redis and the bench's clients included):
    where the time goes, and how much of the machine a frame costs."""
    if not decided or not after.by_process:
        return "cpu per decision: unknown (no decision, or no live pid file)"

    def spent(was: dict[str, float], now: dict[str, float]) -> dict[str, float]:
        return {name: seconds - was.get(name, 0.0) for name, seconds in now.items()}

    used = spent(before.by_process, after.by_process)
    total = sum(used.values())
    parts = ", ".join(f"{name} {1000 * seconds / decided:.1f}" for name, seconds in
                      sorted(used.items(), key=lambda item: -item[1]))
    elapsed = max(1e-6, after.at - before.at)
    servers = ", ".join(f"{name} {1000 * seconds / decided:.1f}" for name, seconds in
                        sorted(spent(before.servers, after.servers).items()))
    return (f"cpu per decision: {1000 * total / decided:.1f} ms in all over {decided} "
            f"decisions ({parts}; ms, the stack's processes"
            f"{f'; local servers: {servers}' if servers else ''}); machine busy "
            f"{(after.machine - before.machine) / elapsed:.2f} of {os.cpu_count()} cores, "
            f"the stack {total / elapsed:.2f}")


def step_passes(summary: StepSummary, bound_s: float) -> bool:
    """A ramp step holds when every client streamed at once, no frame was lost or answered
    without both models, and p95 stayed within the bound."""
    return (summary.admitted_at_once == summary.clients and summary.lost == 0
            and summary.unevaluated == 0 and summary.concurrent.p95_s <= bound_s)


def run_steps(settings: Settings, plan: BenchPlan, pairs: list[tuple[str, str]],
              frames: list[bytes]) -> list[StepSummary]:
    """Each step in turn (stopping at the first that fails when ramping)."""
    url = f"ws://{settings.gateway.host}:{settings.gateway.port}/v1/stream"
    summaries = []
    for clients in plan.steps():
        print(f"streaming {clients} clients x {plan.fps:g} fps x {plan.duration_s:.0f} s to "
              f"{url}", flush=True)
        cpu_before = CpuReading.now(settings)
        reports = asyncio.run(stream_all(url, pairs[:clients], frames, plan.fps,
                                          plan.duration_s))
        cpu_after = CpuReading.now(settings)
        summary = summarize(reports, plan.fps)
        summaries.append(summary)
        for line in summary.lines():
            print(f"  {line}", flush=True)
        for (client_id, _), report in zip(pairs, reports, strict=False):
            if report.close_code not in (None, 1000):
                print(f"  {client_id}: closed {report.close_code} {report.close_reason}")
        print(f"  {cpu_line(cpu_before, cpu_after, summary.decided)}", flush=True)
        print(f"  {stack_memory_line(settings)}", flush=True)
        plot_latency(reports, plan.plot)
        if plan.find_max and not step_passes(summary, plan.p95_bound_s):
            break
        time.sleep(SETTLE_S if plan.find_max else 0)
    return summaries


def print_result(plan: BenchPlan, summaries: list[StepSummary], ceiling: list[str],
                 ceiling_fps: float) -> int:
    """The step table, the knee (with --find-max), the ceiling and the efficiency; the exit
    code: 0 when a ramp found its knee, or a single step lost nothing."""
    print(f"\n{'clients':>7} {'at once':>7} {'waited':>6} {'sent':>6} {'decided':>7} "
          f"{'lost':>5} {'not eval':>8} {'dec/s':>6} {'eval/s':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7}")
    for s in summaries:
        c = s.concurrent
        print(f"{s.clients:>7} {s.admitted_at_once:>7} {s.waited:>6} {s.sent:>6} "
              f"{s.decided:>7} {s.lost:>5} {s.unevaluated:>8} {s.sustained_dps:>6.1f} "
              f"{s.evaluated_dps:>6.1f} {c.p50_s * 1000:>7.0f} {c.p95_s * 1000:>7.0f} "
              f"{c.p99_s * 1000:>7.0f}")
    for line in ceiling:
        print(line)
    passing = [s for s in summaries if step_passes(s, plan.p95_bound_s)]
    best = passing[-1] if plan.find_max and passing else summaries[-1]
    if plan.find_max:
        if passing:
            print(f"knee: {best.clients} clients at {plan.fps:g} fps hold p95 "
                  f"{best.concurrent.p95_s * 1000:.0f} ms <= {plan.p95_bound_s * 1000:.0f} ms "
                  "with nothing lost and every frame evaluated")
        else:
            print(f"knee: below {summaries[0].clients} clients (the first step failed)")
    print(f"end-to-end efficiency: {best.evaluated_dps / ceiling_fps:.2f} "
          f"({best.evaluated_dps:.1f} decisions/s of evaluated frames at {best.clients} "
          f"clients / {ceiling_fps:.1f} frames/s model-only)")
    print(f"latency plot (last step): {plan.plot}")
    return 0 if (passing if plan.find_max else best.lost + best.unevaluated == 0) else 1


def run_bench_e2e(settings: Settings, plan: BenchPlan) -> int:
    """Run the benchmark and print its figures; exit code 0 when no frame was lost."""
    from processors.vision.chain import FaceChain

    most = max(plan.steps())
    started: UpProcess | None = None
    if not port_answers(settings.gateway.port, settings.gateway.host):
        raised = most if plan.raise_capacity else None
        print("no gateway answers: starting `vigil up`"
              + (f" with capacity raised to {most} sessions for the run" if raised else ""),
              flush=True)
        started = start_vigil_up(raised, timeout_s=600)
    else:
        print("using the running gateway: its capacity applies, and clients it queues are "
              "reported apart", flush=True)
    try:
        chain = FaceChain.load(settings)
        pairs = enroll_bench_clients(settings, most, plan.enroll_image, chain)
        frames = webcam_frames(plan.images, quality=80)
        phone = load_phone(settings, chain)
        before = measure_ceiling(settings, frames, chain, phone)
        summaries = run_steps(settings, plan, pairs, frames)
        time.sleep(SETTLE_S)
        after = measure_ceiling(settings, frames, chain, phone)
    finally:
        if started is not None:
            started.stop(STOP_TIMEOUT_S)
    ceiling_fps, lines = ceiling_lines(before, after)
    return print_result(plan, summaries, lines, ceiling_fps)
