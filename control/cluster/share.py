"""A model process's share of the capacity, from the frames it measurably evaluates.

The measured admission rule (``admission_rule=measured``, control/cluster/admission.py): each
face and phone process's heartbeat carries the sessions it can take, worked out here from the
process's own Prometheus counters (vigil/core/metrics.py), read at every beat:

- its rate: frames evaluated (run through its model, ``vigil_frame_age_seconds`` count) per
  second of busy time (``vigil_stage_latency_seconds`` sum: batches handled, produced and
  committed), as a moving average with time constant ``admission_smoothing_s``. Busy time
  is wall time, so it already carries what the machine's other processes cost it;
- its share: ``rate x admission_target / admission_session_fps`` sessions, within
  ``admission_share_floor .. admission_share_ceiling``; the floor before any measurement;
- back-pressure: a beat that saw a frame answered ``stale``, or frames finished with a mean
  age above ``admission_age_high_s``, multiplies a pressure factor by ``BACKOFF``; a calm beat
  brings it back towards 1 by ``RECOVERY``; the share is multiplied by it (never below the
  floor);
- slow start: the share grows by at most ``GROWTH`` x itself + 1 session a beat, so the
  sessions it lets in are measured before more come (the bench's 40 clients arrive at once).

Pure arithmetic (:class:`ShareMeter`) apart from :func:`read_counters`, so it is unit-tested
on made-up readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry

from schemas.events import Unprocessed
from vigil.core.settings import Settings

BACKOFF = 0.8  # pressure factor kept after a beat under pressure
RECOVERY = 0.05  # pressure factor regained after a calm beat (about 20 beats from 0 to 1)
GROWTH = 0.25  # most a share grows in one beat, as a fraction of itself (plus one session)
MIN_FRAMES = 3  # frames a beat must have evaluated for its rate to count


@dataclass(frozen=True)
class StageCounters:
    """A process's cumulative counters for one stage, read at ``at`` (monotonic seconds)."""

    at: float
    evaluated: float  # frames run through the model
    busy_s: float  # seconds spent on batches
    stale: float  # frames answered stale without the model
    age_sum_s: float  # summed age of the evaluated frames when finished


def read_counters(stage: str, at: float, registry: CollectorRegistry = REGISTRY
                  ) -> StageCounters:
    """This process's counters for ``stage`` from its Prometheus registry (0 before use)."""
    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, {"stage": stage, **labels}) or 0.0

    return StageCounters(
        at=at, evaluated=value("vigil_frame_age_seconds_count"),
        busy_s=value("vigil_stage_latency_seconds_sum"),
        stale=value("vigil_frames_unprocessed_total", why=Unprocessed.STALE.value),
        age_sum_s=value("vigil_frame_age_seconds_sum"))


@dataclass(frozen=True)
class ShareRule:
    """The measured rule's settings."""

    session_fps: float
    target: float
    floor: int
    ceiling: int
    smoothing_s: float
    age_high_s: float

    @classmethod
    def of(cls, settings: Settings) -> ShareRule:
        s = settings.scaling
        return cls(s.admission_session_fps, s.admission_target, s.admission_share_floor,
                   s.admission_share_ceiling, s.admission_smoothing_s, s.admission_age_high_s)

    def sessions(self, rate: float, pressure: float) -> int:
        """Sessions a process evaluating ``rate`` frames per busy second offers."""
        wanted = math.floor(rate * self.target * pressure / self.session_fps)
        return max(self.floor, min(self.ceiling, wanted))


@dataclass
class ShareMeter:
    """Turns successive :class:`StageCounters` of one process into its share (sessions)."""

    rule: ShareRule
    rate: float | None = None  # smoothed frames per busy second; None before a measurement
    pressure: float = 1.0
    share: int = 0
    _last: StageCounters | None = None

    def __post_init__(self) -> None:
        self.share = self.rule.floor

    def update(self, now: StageCounters) -> int:
        """The share after one more reading (the first is a baseline: the floor)."""
        before, self._last = self._last, now
        if before is None or now.evaluated < before.evaluated or now.at <= before.at:
            return self.share  # first reading, or the counters restarted: a baseline
        evaluated = now.evaluated - before.evaluated
        busy = now.busy_s - before.busy_s
        if evaluated >= MIN_FRAMES and busy > 0:
            weight = 1 - math.exp(-(now.at - before.at) / self.rule.smoothing_s)
            measured = evaluated / busy
            self.rate = measured if self.rate is None else (
                self.rate + weight * (measured - self.rate))
        mean_age = (now.age_sum_s - before.age_sum_s) / evaluated if evaluated else 0.0
        if now.stale > before.stale or mean_age > self.rule.age_high_s:
            self.pressure *= BACKOFF
        else:
            self.pressure = min(1.0, self.pressure + RECOVERY)
        if self.rate is not None:
            wanted = self.rule.sessions(self.rate, self.pressure)
            self.share = min(wanted, math.floor(self.share * (1 + GROWTH)) + 1)
        return self.share
