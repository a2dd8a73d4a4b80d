"""The figures of one bench step, from what each simulated client saw.

Honest by construction: a client that waited in the admission queue did not stream alongside
the others, so its latencies are never pooled with theirs; and a frame answered without both
models' results (``incomplete``, ``stale``) is counted apart from the frames really evaluated.
The step reports how many clients were admitted at once, how many waited and how long, the
decisions by reason, and the latency percentiles of the clients admitted at once only (the
queued ones get their own line, marked as such).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from vigil.apps.client import StreamReport

WARMUP_S = 5.0  # decisions in the first seconds of a step are not counted as sustained
# Decisions the stack gives a frame it did not run through both models: the face or phone
# half missed decide's deadline, or the frame was too old when a processor reached it.
UNEVALUATED = frozenset({"incomplete", "stale"})


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Latency percentiles of a set of decisions, and how many there were."""

    count: int
    p50_s: float
    p95_s: float
    p99_s: float

    @classmethod
    def of(cls, reports: list[StreamReport]) -> Latency:
        values = [v for r in reports for v in r.latencies_s.values()]
        return cls(len(values), percentile(values, 50), percentile(values, 95),
                   percentile(values, 99))

    def text(self) -> str:
        return (f"p50 {_ms(self.p50_s)}  p95 {_ms(self.p95_s)}  p99 {_ms(self.p99_s)} "
                f"(of {self.count} decisions)")


@dataclass(frozen=True)
class StepSummary:
    """One step: N clients at F fps for D seconds."""

    clients: int
    fps: float
    admitted_at_once: int
    waited: int  # clients told to wait in the queue before their welcome
    refused: int  # clients never admitted (closed while waiting, or queue full)
    wait_max_s: float
    sent: int
    decided: int
    lost: int
    rate_limited: int  # frames the gateway refused with error rate_limited
    reasons: dict[str, int]  # decisions received, by reason
    sustained_dps: float  # decisions per second received in the steady window
    window_s: float
    window_decisions: int
    window_evaluated: int  # of those, decisions of frames both models ran on
    concurrent: Latency  # of the clients admitted at once
    queued: Latency  # of the clients that waited first (not concurrent with the others)

    @property
    def offered_fps(self) -> float:
        return self.clients * self.fps

    @property
    def unevaluated(self) -> int:
        """Frames answered without both models' results (incomplete or stale)."""
        return sum(n for reason, n in self.reasons.items() if reason in UNEVALUATED)

    @property
    def evaluated_dps(self) -> float:
        """Decisions per second of frames both models ran on, in the steady window."""
        return self.window_evaluated / self.window_s if self.window_s > 0 else math.nan

    def lines(self) -> list[str]:
        out = [
            f"clients            {self.clients} at {self.fps:g} fps (offered "
            f"{self.offered_fps:.1f} frames/s)",
            f"admitted at once   {self.admitted_at_once}",
            f"waited for a slot  {self.waited} (longest wait {self.wait_max_s:.1f} s); "
            f"never admitted {self.refused}",
            f"frames sent        {self.sent}",
            f"decisions received {self.decided}",
            f"lost frames        {self.lost} (of which the gateway refused {self.rate_limited} "
            "as rate_limited)",
            "by reason          " + ", ".join(f"{reason} {n}" for reason, n in
                                              sorted(self.reasons.items(), key=lambda i: -i[1])),
            f"not evaluated      {self.unevaluated} frames answered without both models "
            "(incomplete: a half missed decide's deadline; stale: too old when reached)",
            f"sustained          {self.sustained_dps:.1f} decisions/s, {self.evaluated_dps:.1f} "
            f"of frames both models ran on ({self.window_decisions} and {self.window_evaluated} "
            f"in the {self.window_s:.0f} s after a {WARMUP_S:.0f} s warm-up)",
            f"latency            {self.concurrent.text()}  [clients admitted at once]",
        ]
        if self.waited or self.refused:
            out.append(f"latency (queued)   {self.queued.text()}  [clients that waited "
                       "first: NOT concurrent with the others]")
            out.append(f"WARNING: {self.waited + self.refused} of {self.clients} clients did "
                       "not stream concurrently: admission queued them (capacity was below "
                       "the client count). Let the bench start Vigil to raise it.")
        return out


def summarize(reports: list[StreamReport], fps: float) -> StepSummary:
    """The step's figures from each client's report."""
    at_once = [r for r in reports if r.welcomed_at is not None and not r.queued_positions]
    queued = [r for r in reports if r.queued_positions]
    waits = [w for r in queued if (w := r.waited_s) is not None]
    sends = [t for r in reports for t in r.sent.values()]
    start = min(sends, default=0.0) + WARMUP_S
    end = max(sends, default=0.0)
    window = max(0.0, end - start)
    received = [(r.sent[s] + lat, r.decisions[s].get("reason")) for r in reports
                for s, lat in r.latencies_s.items()]
    in_window = [reason for t, reason in received if start <= t <= end]
    reasons = Counter(str(r.decisions[s].get("reason")) for r in reports
                      for s in set(r.decisions) & set(r.sent))
    return StepSummary(
        clients=len(reports), fps=fps, admitted_at_once=len(at_once), waited=len(queued),
        refused=sum(1 for r in reports if r.welcomed_at is None),
        wait_max_s=max(waits, default=0.0),
        sent=len(sends), decided=sum(len(set(r.decisions) & set(r.sent)) for r in reports),
        lost=sum(len(r.lost) for r in reports),
        rate_limited=sum(1 for r in reports for e in r.errors if e.get("code") == "rate_limited"),
        reasons=dict(reasons),
        sustained_dps=len(in_window) / window if window > 0 else math.nan, window_s=window,
        window_decisions=len(in_window),
        window_evaluated=sum(1 for reason in in_window if reason not in UNEVALUATED),
        concurrent=Latency.of(at_once), queued=Latency.of(queued))


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
    if len(reports) <= 12:
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"
