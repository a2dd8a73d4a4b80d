"""`vigil up`'s autoscaler: measures each model stage, asks its policy, starts or stops one
process, and logs and counts every step with its reason.

The policy is vigil/apps/autoscale.py (pure decisions); the measurements are
vigil/apps/scale_signals.py. A stopped process gets SIGTERM: it finishes its batch, commits
and leaves the consumer group, whose members then share its partitions. The supervisor
(vigil/apps/up.py) reaps it, and kills it if it is still there after the grace period.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import redis

from vigil.apps.autoscale import ScalingRule, ScalingStep, StagePolicy, StageSample
from vigil.apps.children import Child, new_child
from vigil.apps.scale_signals import ProcessView, StageSignals
from vigil.core import metrics
from vigil.core.flow import scaled_stages, stage
from vigil.core.lag import LagReader, LagUnavailableError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


class Autoscaler:
    """Measures the model stages (their lag and load are exported either way) and scales
    those whose minimum and maximum differ."""

    def __init__(self, settings: Settings, run_dir: Path, grace_s: float) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.grace_s = grace_s
        scaled = [s.name for s in scaled_stages()
                  if len(set(settings.scaling.stage_process_bounds(s.name))) > 1]
        self.lag_reader = LagReader(settings, max_age_s=settings.scaling.autoscale_interval_s / 2)
        client = redis.Redis.from_url(settings.redis.url, socket_timeout=2) if scaled else None
        self.policies = {s: StagePolicy(ScalingRule.from_settings(settings, s)) for s in scaled}
        self.signals = {s: StageSignals(settings, s, self.lag_reader, client)
                        for s in (entry.name for entry in scaled_stages())}
        self._next_at = 0.0
        for s in scaled:
            low, high = settings.scaling.stage_process_bounds(s)
            log.info(
                "autoscale stage=%s processes %d..%d lag_high=%d latency_high=%.2fs "
                "up_window=%.0fs idle_window=%.0fs",
                s,
                low,
                high,
                settings.scaling.autoscale_lag_high,
                settings.scaling.autoscale_latency_high_s,
                settings.scaling.autoscale_up_window_s,
                settings.scaling.autoscale_idle_window_s,
            )

    def close(self) -> None:
        self.lag_reader.close()

    def tick(self, children: list[Child], now: float) -> list[ScalingStep]:
        """Every autoscale_interval_s: measure, decide and act for each scaled stage."""
        if now < self._next_at:
            return []
        self._next_at = now + self.settings.scaling.autoscale_interval_s
        steps = []
        for name, signals in self.signals.items():
            mine = [c for c in children if c.stage == name]
            views = [ProcessView(c.proc.pid if c.proc else -1, c.metrics_port,
                                 settled=not c.leaving and c.healthy()) for c in mine]
            try:
                sample = signals.sample(views, now)
            except LagUnavailableError as exc:
                log.warning("autoscale stage=%s skipped: %s", name, exc)
                continue
            _export(name, sample)
            policy = self.policies.get(name)
            step = policy.decide(sample) if policy is not None else None
            if step is not None:
                self.apply(step, children, now, sample)
                steps.append(step)
        return steps

    def apply(self, step: ScalingStep, children: list[Child], now: float,
              sample: StageSample) -> None:
        """Start one more process of the stage, or ask its newest one to leave."""
        mine = [c for c in children if c.stage == step.stage]
        if step.delta > 0:
            taken = {c.replica for c in mine}
            replica = min(set(range(len(taken) + 1)) - taken)
            child = new_child(stage(step.stage), replica, self.settings)
            child.start(self.run_dir)
            children.append(child)
        else:
            child = max((c for c in mine if not c.leaving), key=lambda c: c.replica)
            child.ask_to_leave(now, self.grace_s)
        after = sample.processes + step.delta
        log.info("autoscale stage=%s step=%s process=%s processes=%d->%d reason=%s: %s",
                 step.stage, step.direction, child.name, sample.processes, after,
                 step.reason.value, step.detail)
        metrics.SCALING_STEPS.labels(step.stage, step.direction, step.reason.value).inc()


def _export(stage_name: str, sample: StageSample) -> None:
    metrics.GROUP_LAG.labels(stage_name).set(sample.lag)
    metrics.STAGE_FRAME_AGE_P95.labels(stage_name).set(
        sample.p95_s if sample.p95_s is not None else math.nan)
    metrics.STAGE_BUSY.labels(stage_name).set(sample.busy)
