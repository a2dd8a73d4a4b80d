"""`vigil bench e2e --compare-admission`: more clients than the machine can serve, once per
admission rule, side by side in one run.

For each rule the bench starts its own `vigil up` (so each starts from an empty state), offers
every client at once, and reports what the clients saw: admitted at once, queued (and
whether a client was let in before one that queued earlier), never admitted, frames
answered ``stale`` or ``incomplete``, and latency percentiles of the clients admitted at once
and of those that waited first. The rules:

- ``sessions``: the seed's session count with the capacity raised to the client count, as
  the bench did so far: every client streams at once, whatever the machine can evaluate;
- ``measured``: the shipped defaults (control/cluster/share.py): sessions are admitted while
  the model processes' measured rate has room for them; the rest wait in the queue.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from vigil.apps.bench.e2e import (
    BenchError,
    BenchPlan,
    CpuReading,
    cpu_line,
    enroll_bench_clients,
    start_vigil_up,
    stream_all,
)
from vigil.apps.bench.report import Latency, StepSummary, summarize
from vigil.apps.client import StreamReport, webcam_frames
from vigil.core.settings import Settings
from vigil.local.servers import port_answers

RULES = ("sessions", "measured")
STOP_TIMEOUT_S = 300.0
ORDER_SLACK_S = 0.5


@dataclass(frozen=True)
class RuleRun:
    """What one rule's run gave the clients."""

    rule: str
    summary: StepSummary
    everyone: Latency  # every decision, queued clients' included
    overtakes: int  # queued clients admitted before one that queued earlier (see overtakes)
    cpu: str


def overtakes(reports: list[StreamReport]) -> int:
    """Queued clients admitted before one that had queued more than ``ORDER_SLACK_S`` earlier
    (the queue is first in, first out; closer than that the clients' clocks cannot tell)."""
    queued = [(r.queued_at, r.welcomed_at) for r in reports
              if r.queued_at is not None and r.welcomed_at is not None]
    return sum(1 for first_q, first_w in queued for later_q, later_w in queued
               if later_q > first_q + ORDER_SLACK_S and later_w < first_w)


def run_rule(settings: Settings, plan: BenchPlan, rule: str) -> RuleRun:
    """Start `vigil up` under ``rule``, stream every client at once, stop it."""
    from processors.vision.chain import FaceChain

    raised = plan.clients if rule == "sessions" else None
    print(f"\nadmission rule {rule}: starting `vigil up`"
          + (f" with the capacity raised to {raised} sessions" if raised else
             " with the shipped defaults"), flush=True)
    up = start_vigil_up(raised, timeout_s=600, extra_env={"VIGIL_ADMISSION_RULE": rule})
    try:
        pairs = enroll_bench_clients(settings, plan.clients, plan.enroll_image,
                                     FaceChain.load(settings))
        frames = webcam_frames(plan.images, quality=80)
        url = f"ws://{settings.gateway.host}:{settings.gateway.port}/v1/stream"
        print(f"streaming {plan.clients} clients x {plan.fps:g} fps x {plan.duration_s:.0f} s "
              f"to {url}", flush=True)
        before = CpuReading.now(settings)
        reports = asyncio.run(stream_all(url, pairs, frames, plan.fps, plan.duration_s))
        after = CpuReading.now(settings)
    finally:
        up.stop(STOP_TIMEOUT_S)
    summary = summarize(reports, plan.fps)
    for line in summary.lines():
        print(f"  {line}", flush=True)
    return RuleRun(rule, summary, Latency.of(reports), overtakes(reports),
                   cpu_line(before, after, summary.decided))


def print_comparison(runs: list[RuleRun]) -> None:
    """The rules side by side."""
    print(f"\n{'rule':<9} {'clients':>7} {'at once':>7} {'queued':>6} {'never':>5} "
          f"{'overtook':>8} {'sent':>6} {'decided':>7} {'stale':>6} {'incompl':>7} "
          f"{'p95 once':>8} {'p95 q':>7} {'p95 all':>7} {'wait max':>8}")
    def ms(seconds: float) -> str:
        return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f}"

    for run in runs:
        s = run.summary

        print(f"{run.rule:<9} {s.clients:>7} {s.admitted_at_once:>7} {s.waited:>6} "
              f"{s.refused:>5} {run.overtakes:>8} {s.sent:>6} "
              f"{s.decided:>7} {s.reasons.get('stale', 0):>6} "
              f"{s.reasons.get('incomplete', 0):>7} {ms(s.concurrent.p95_s):>8} "
              f"{ms(s.queued.p95_s):>7} {ms(run.everyone.p95_s):>7} {s.wait_max_s:>7.1f}s")
    for run in runs:
        print(f"{run.rule}: {run.cpu}")
    print("p95 in ms: 'once' of the clients admitted at once, 'q' of those that waited in the "
          "queue first (they streamed after a slot freed), 'all' of every decision")


def run_overload(settings: Settings, plan: BenchPlan) -> int:
    """Each rule in turn; exit code 0 when the measured rule kept stale frames within 1% and
    the p95 of every decision within the plan's bound."""
    if port_answers(settings.gateway.port, settings.gateway.host):
        raise BenchError("a gateway already answers on "
                         f"{settings.gateway.host}:{settings.gateway.port}: --compare-admission "
                         "starts `vigil up` once per rule itself; stop it first")
    runs = [run_rule(settings, plan, rule) for rule in RULES]
    print_comparison(runs)
    measured = runs[-1].summary
    stale = measured.reasons.get("stale", 0)
    ok = (stale <= 0.01 * max(1, measured.sent) and measured.lost == 0
          and runs[-1].everyone.p95_s <= plan.p95_bound_s)
    return 0 if ok else 1
