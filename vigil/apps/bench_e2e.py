"""`vigil bench e2e`: N simulated clients over real WebSockets against a running Vigil.

Enrolls one bench client per simulated client (``vigil enroll`` and ``vigil token issue``),
streams webcam-like frames of the enrolled person at the given rate for the given time, and
prints frames sent, decisions received, lost frames and end-to-end latency percentiles
(client send -> decision received), plus a PNG plot of latency over time. When no gateway
answers, it starts ``vigil up`` itself and stops it afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vigil.apps.client import StreamReport, stream_frames, webcam_frames
from vigil.core.settings import Settings
from vigil.local.servers import port_answers

log = logging.getLogger(__name__)

READY_LINE = "vigil ready"


@dataclass(frozen=True)
class BenchSummary:
    clients: int
    sent: int
    decided: int
    lost: int
    p50_s: float
    p95_s: float
    p99_s: float

    def lines(self) -> list[str]:
        return [
            f"clients            {self.clients}",
            f"frames sent        {self.sent}",
            f"decisions received {self.decided}",
            f"lost frames        {self.lost}",
            f"latency p50        {self.p50_s * 1000:.0f} ms",
            f"latency p95        {self.p95_s * 1000:.0f} ms",
            f"latency p99        {self.p99_s * 1000:.0f} ms",
        ]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(reports: list[StreamReport]) -> BenchSummary:
    latencies = [v for r in reports for v in r.latencies_s.values()]
    return BenchSummary(
        clients=len(reports),
        sent=sum(len(r.sent) for r in reports),
        decided=sum(len(set(r.decisions) & set(r.sent)) for r in reports),
        lost=sum(len(r.lost) for r in reports),
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        p99_s=percentile(latencies, 99),
    )


def plot_latency(reports: list[StreamReport], path: Path) -> None:
    """Latency of every decision against the time its frame was sent, one series a client."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min((t for r in reports for t in r.sent.values()), default=0.0)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for index, report in enumerate(reports):
        xs = [report.sent[s] - start for s in sorted(report.latencies_s)]
        ys = [report.latencies_s[s] * 1000 for s in sorted(report.latencies_s)]
        ax.plot(xs, ys, marker=".", linewidth=0.8, label=f"client {index + 1}")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title("Vigil end-to-end latency per frame")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _vigil(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "vigil.apps.cli", *args], capture_output=True,
                            text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"vigil {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def enroll_bench_clients(count: int, enroll_image: Path) -> list[tuple[str, str]]:
    """Enroll ``count`` bench clients with one photo; return (client_id, token) pairs."""
    clients = []
    for index in range(1, count + 1):
        client_id = f"bench-{index}"
        _vigil("enroll", client_id, str(enroll_image), "--name", f"bench client {index}")
        token = _vigil("token", "issue", client_id).strip().splitlines()[-1]
        clients.append((client_id, token))
    return clients


def _start_vigil_up(timeout_s: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "vigil.apps.cli", "up"], stdout=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"[vigil up] {line.rstrip()}", flush=True)
        if line.startswith(READY_LINE):
            return proc
        if time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    raise RuntimeError("`vigil up` did not become ready")


async def _stream_all(url: str, clients: list[tuple[str, str]], frames: list[bytes],
                      fps: float, duration_s: float) -> list[StreamReport]:
    per_client = max(1, int(fps * duration_s))
    cycle = [frames[i % len(frames)] for i in range(per_client)]
    return list(await asyncio.gather(*(
        stream_frames(url, client_id, token, cycle, fps=fps, reply_timeout_s=30)
        for client_id, token in clients
    )))


def run_bench_e2e(settings: Settings, clients: int, fps: float, duration_s: float,
                  images: list[Path], enroll_image: Path, plot: Path) -> int:
    """Run the benchmark and print its figures; exit code 0 when no frame was lost."""
    started: subprocess.Popen[str] | None = None
    if not port_answers(settings.gateway_port, settings.gateway_host):
        print("no gateway answers: starting `vigil up`", flush=True)
        started = _start_vigil_up(timeout_s=600)
    try:
        pairs = enroll_bench_clients(clients, enroll_image)
        frames = webcam_frames(images, quality=80)
        url = f"ws://{settings.gateway_host}:{settings.gateway_port}/v1/stream"
        print(f"streaming {clients} clients x {fps} fps x {duration_s:.0f} s to {url}",
              flush=True)
        reports = asyncio.run(_stream_all(url, pairs, frames, fps, duration_s))
    finally:
        if started is not None:
            started.send_signal(signal.SIGINT)
            started.wait(120)
    summary = summarize(reports)
    for line in summary.lines():
        print(line)
    for (client_id, _), report in zip(pairs, reports, strict=True):
        if report.close_code not in (None, 1000):
            print(f"{client_id}: closed {report.close_code} {report.close_reason}")
    plot_latency(reports, plot)
    print(f"latency plot: {plot}")
    return 0 if summary.lost == 0 else 1
