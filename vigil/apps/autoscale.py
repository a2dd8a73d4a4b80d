"""The autoscaling policy of `vigil up` (the seed's Pipeline Manager): when to start or stop
one process of a model stage. Pure decisions, no processes: the supervisor measures a
:class:`StageSample` every few seconds, asks :meth:`StagePolicy.decide`, and acts.

For each model stage (face, phone) the policy keeps the process count between the stage's
minimum and maximum and

- starts one at once when clients wait for capacity that one more face process (one more
  pipeline) would give them (reason ``queue``);
- starts one when the consumer group's lag or the p95 age of the frames it finishes stays
  above its bound for ``up_window_s`` (reasons ``lag``, ``latency``);
- stops one when, for ``idle_window_s``, nothing pressed and the work done would have fit on
  one process fewer at ``idle_busy`` each, and the sessions in use keep their slots
  (reason ``idle``). Busy time counts finished batches, so frames waiting while no batch
  finished is never idle: a batch is running long.

While a process it started is still loading, or one it stopped is still leaving, it waits:
the signals only mean something once the group has rebalanced. Every window starts afresh
after a step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from vigil.core.settings import Settings


class Reason(StrEnum):
    """Why a step was taken (a metric label, so a small fixed set)."""

    QUEUE = "queue"
    LAG = "lag"
    LATENCY = "latency"
    IDLE = "idle"


@dataclass(frozen=True)
class ScalingRule:
    """The bounds and thresholds of one stage, from the settings."""

    stage: str
    min_processes: int
    max_processes: int
    lag_high: int
    latency_high_s: float
    up_window_s: float
    idle_window_s: float
    idle_busy: float

    @classmethod
    def from_settings(cls, settings: Settings, stage: str) -> ScalingRule:
        low, high = settings.scaling.stage_process_bounds(stage)
        return cls(
            stage,
            low,
            high,
            settings.scaling.autoscale_lag_high,
            settings.scaling.autoscale_latency_high_s,
            settings.scaling.autoscale_up_window_s,
            settings.scaling.autoscale_idle_window_s,
            settings.scaling.autoscale_idle_busy,
        )


@dataclass(frozen=True)
class StageSample:
    """What the supervisor measured for one stage at one moment."""

    at: float  # time.monotonic()
    processes: int  # running, not leaving
    settling: int  # started but not yet healthy, or asked to stop but not yet gone
    lag: int  # messages behind (committed offsets against end offsets)
    p95_s: float | None  # p95 age of the frames finished since the last sample; None: none
    busy: float  # summed fraction of the time spent on finished batches (0..processes; NaN:
    # unknown, when a process's /metrics did not answer)
    sessions_floor: int = 0  # processes the sessions in use need (their capacity)
    sessions_wanted: int = 0  # processes the sessions in use and waiting need


@dataclass(frozen=True)
class ScalingStep:
    """Start (+1) or stop (-1) one process of a stage, and why, in words."""

    stage: str
    delta: int
    reason: Reason
    detail: str

    @property
    def direction(self) -> str:
        return "up" if self.delta > 0 else "down"


class StagePolicy:
    """The decisions for one stage; it remembers since when pressure or idleness lasts."""

    def __init__(self, rule: ScalingRule) -> None:
        self.rule = rule
        self._pressed_since: float | None = None
        self._idle_since: float | None = None

    def decide(self, s: StageSample) -> ScalingStep | None:
        """The step to take now, if any."""
        if s.settling:
            self._pressed_since = self._idle_since = None
            return None
        room = s.processes < self.rule.max_processes
        if room and s.sessions_wanted > s.processes:
            return self._step(+1, Reason.QUEUE, f"clients wait: the sessions need "
                              f"{s.sessions_wanted} processes, {s.processes} run")
        pressure = self._pressure(s)
        if pressure is not None:
            self._idle_since = None
            self._pressed_since = self._pressed_since if self._pressed_since is not None else s.at
            if room and s.at - self._pressed_since >= self.rule.up_window_s:
                reason, detail = pressure
                return self._step(+1, reason, f"{detail} for {s.at - self._pressed_since:.0f} s")
            return None
        self._pressed_since = None
        if not self._idle(s):
            self._idle_since = None
            return None
        self._idle_since = self._idle_since if self._idle_since is not None else s.at
        if s.at - self._idle_since >= self.rule.idle_window_s:
            return self._step(-1, Reason.IDLE, f"busy {s.busy:.2f} of {s.processes} processes, "
                              f"lag {s.lag}, for {s.at - self._idle_since:.0f} s")
        return None

    def _pressure(self, s: StageSample) -> tuple[Reason, str] | None:
        if s.lag > self.rule.lag_high:
            return Reason.LAG, f"lag {s.lag} > {self.rule.lag_high} messages"
        if s.p95_s is not None and s.p95_s > self.rule.latency_high_s:
            return Reason.LATENCY, f"p95 frame age {s.p95_s:.2f} s > {self.rule.latency_high_s} s"
        return None

    def _idle(self, s: StageSample) -> bool:
        fewer = s.processes - 1
        if fewer < max(self.rule.min_processes, s.sessions_floor):
            return False
        if s.lag > 0 and not s.busy > 0:
            return False  # work waits and no batch finished: one is running long, not idle
        return s.busy <= self.rule.idle_busy * fewer

    def _step(self, delta: int, reason: Reason, detail: str) -> ScalingStep:
        self._pressed_since = self._idle_since = None
        return ScalingStep(self.rule.stage, delta, reason, detail)


def pipelines_for(sessions: int, per_pipeline: int) -> int:
    """Face processes (pipelines) that ``sessions`` client sessions need."""
    return math.ceil(sessions / per_pipeline) if sessions > 0 else 0


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The q-quantile (0-1) of a cumulative histogram, as the upper bound of its bucket.

    ``buckets`` are (upper bound, cumulative count) pairs in increasing order, the last one
    +Inf; None when the histogram is empty. A value in the +Inf bucket is reported as the
    largest finite bound (it is at least that).
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    wanted = q * buckets[-1][1]
    finite = [b for b in buckets if math.isfinite(b[0])]
    for bound, count in buckets:
        if count >= wanted:
            return bound if math.isfinite(bound) else (finite[-1][0] if finite else None)
    return None
