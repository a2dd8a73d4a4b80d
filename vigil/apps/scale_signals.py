"""What the autoscaler measures for a model stage: lag, frame age, busy time, sessions.

- lag: the stage's consumer group on ``frames``, committed offsets against end offsets, from
  the broker (vigil/core/lag.py, cached and cheap);
- frame age p95 and busy time: each process's own /metrics (``vigil_frame_age_seconds``,
  the sum of ``vigil_stage_latency_seconds``), as the change since the previous sample,
  summed over the stage's processes (a restarted process starts from zero again);
- sessions: for the face stage, the slots in use and the clients waiting (Redis), turned
  into the pipelines they need.
"""

from __future__ import annotations

import logging
import math
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import redis
from prometheus_client.parser import text_string_to_metric_families

from control.cluster.admission import occupancy
from vigil.apps.autoscale import StageSample, histogram_quantile, pipelines_for
from vigil.core.flow import CAPACITY_STAGE, stage
from vigil.core.lag import LagReader
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT_S = 1.0
AGE_METRIC = "vigil_frame_age_seconds"
BUSY_METRIC = "vigil_stage_latency_seconds"


@dataclass(frozen=True)
class ProcessCounters:
    """The cumulative counters the autoscaler reads from one process's /metrics."""

    busy_s: float
    age_buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count)


@dataclass(frozen=True)
class ProcessView:
    """One running process of a stage, as the supervisor sees it."""

    pid: int
    metrics_port: int
    settled: bool  # healthy and not asked to stop


def parse_counters(text: str, stage: str) -> ProcessCounters:
    """The stage's busy seconds and frame-age buckets from a Prometheus text page."""
    busy = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("stage") != stage:
                continue
            if sample.name == f"{BUSY_METRIC}_sum":
                busy = sample.value
            elif sample.name == f"{AGE_METRIC}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return ProcessCounters(busy, tuple(sorted(buckets.items())))


def scrape(port: int, stage: str) -> ProcessCounters | None:
    """One process's counters, or None when its /metrics does not answer (yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=SCRAPE_TIMEOUT_S) as response:
            return parse_counters(response.read().decode(), stage)
    except OSError:
        return None


def bucket_delta(now: Sequence[tuple[float, float]], before: Sequence[tuple[float, float]]
                 ) -> list[tuple[float, float]]:
    """Cumulative bucket counts gained between two reads of one histogram."""
    earlier = dict(before)
    return [(le, count - earlier.get(le, 0.0)) for le, count in now]


def sum_buckets(histograms: Iterable[Sequence[tuple[float, float]]]) -> list[tuple[float, float]]:
    total: dict[float, float] = {}
    for buckets in histograms:
        for le, count in buckets:
            total[le] = total.get(le, 0.0) + count
    return sorted(total.items())


@dataclass
class StageSignals:
    """Turns reads of one stage's processes into :class:`StageSample`s."""

    settings: Settings
    stage: str
    lag_reader: LagReader
    redis_client: redis.Redis | None = None
    _previous: dict[int, tuple[float, ProcessCounters]] = field(default_factory=dict)

    def sample(self, processes: Sequence[ProcessView], now: float) -> StageSample:
        """Measure now; rates are over the time since each process's previous read."""
        entry = stage(self.stage)
        lag = self.lag_reader.lag(entry.group(self.settings),
                                  [t.name(self.settings) for t in entry.inputs]).total
        ages: list[list[tuple[float, float]]] = []
        busy = 0.0
        busy_known = True
        current: dict[int, tuple[float, ProcessCounters]] = {}
        for process in processes:
            counters = scrape(process.metrics_port, self.stage) if process.metrics_port else None
            if counters is None:
                busy_known = busy_known and not process.settled
                continue
            current[process.pid] = (now, counters)
            before = self._previous.get(process.pid)
            if before is None or before[1].busy_s > counters.busy_s:
                continue  # first read of this process (or it restarted): a baseline only
            elapsed = max(1e-6, now - before[0])
            busy += (counters.busy_s - before[1].busy_s) / elapsed
            ages.append(bucket_delta(counters.age_buckets, before[1].age_buckets))
        self._previous = current
        floor, wanted = self._sessions()
        settled = [p for p in processes if p.settled]
        return StageSample(
            at=now, processes=len(settled), settling=len(processes) - len(settled), lag=lag,
            p95_s=histogram_quantile(sum_buckets(ages), 0.95) if ages else None,
            busy=busy if busy_known and self.settings.observability.metrics_port_base else math.nan,
            sessions_floor=floor, sessions_wanted=wanted)

    def _sessions(self) -> tuple[int, int]:
        """Pipelines the sessions in use need, and those in use plus waiting (face only)."""
        if self.stage != CAPACITY_STAGE.name or self.redis_client is None:
            return 0, 0
        try:
            occ = occupancy(self.settings, self.redis_client)
        except redis.RedisError as exc:
            log.warning("autoscale stage=%s sessions unknown: %s", self.stage, exc)
            return 0, 0
        per = self.settings.scaling.max_clients_per_pipeline
        return (
            pipelines_for(occ.used, per),
            min(self.settings.scaling.max_pipelines, pipelines_for(occ.used + occ.waiting, per)),
        )
