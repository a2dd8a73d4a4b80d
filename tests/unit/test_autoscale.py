"""The autoscaling policy and its measurements, without processes or a broker."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from vigil.apps.autoscale import (
    Reason,
    ScalingRule,
    StagePolicy,
    StageSample,
    histogram_quantile,
    pipelines_for,
)
from vigil.apps.children import stage_children
from vigil.apps.scale_signals import bucket_delta, parse_counters, sum_buckets
from vigil.core.flow_types import process_name, stage_of
from vigil.core.settings import SettingsError, load_settings

RULE = ScalingRule("face", min_processes=1, max_processes=3, lag_high=50, latency_high_s=1.5,
                   up_window_s=10, idle_window_s=30, idle_busy=0.5)


def sample(at: float, processes: int = 1, lag: int = 0, p95: float | None = None,
           busy: float = 0.0, **more: int) -> StageSample:
    return StageSample(at=at, processes=processes, settling=more.pop("settling", 0), lag=lag,
                       p95_s=p95, busy=busy, **more)


def run(policy: StagePolicy, samples: list[StageSample]) -> list[tuple[float, int, str]]:
    """(time, delta, reason) of every step the policy takes over the samples."""
    steps = []
    for s in samples:
        step = policy.decide(s)
        if step is not None:
            steps.append((s.at, step.delta, step.reason.value))
    return steps


def test_lag_must_stay_high_for_the_window_before_a_process_starts() -> None:
    policy = StagePolicy(RULE)
    # High for 8 s, a dip, then high again from t=12: the window restarts at the dip.
    lags = {0: 80, 4: 90, 8: 70, 10: 10, 12: 60, 16: 200, 20: 300, 22: 400}
    assert run(policy, [sample(t, lag=v) for t, v in lags.items()]) == [(22, 1, "lag")]


def test_latency_alone_is_pressure_too_and_the_reason_says_so() -> None:
    policy = StagePolicy(RULE)
    steps = [policy.decide(sample(t, p95=2.5)) for t in (0, 5, 10)]
    assert steps[:2] == [None, None]
    assert steps[2] is not None and steps[2].reason is Reason.LATENCY
    assert "p95 frame age 2.50 s > 1.5 s" in steps[2].detail


def test_nothing_happens_while_a_process_is_starting_or_leaving() -> None:
    policy = StagePolicy(RULE)
    busy_start = [sample(t, processes=1, lag=500, settling=1) for t in range(0, 60, 5)]
    assert run(policy, busy_start) == []
    # Once settled, the window counts from the first settled sample, not from t=0.
    assert run(policy, [sample(t, lag=500) for t in (60, 65, 70)]) == [(70, 1, "lag")]


def test_never_more_than_the_maximum_nor_fewer_than_the_minimum() -> None:
    policy = StagePolicy(RULE)
    assert run(policy, [sample(t, processes=3, lag=10_000) for t in range(0, 100, 5)]) == []
    assert run(policy, [sample(t, processes=1, busy=0.0) for t in range(0, 100, 5)]) == []


def test_idle_for_the_window_stops_one_process() -> None:
    policy = StagePolicy(RULE)
    samples = [sample(t, processes=2, busy=0.3) for t in range(0, 35, 5)]
    assert run(policy, samples) == [(30, -1, "idle")]


def test_busy_processes_are_not_idle_even_without_lag() -> None:
    policy = StagePolicy(RULE)
    # 0.9 of a process busy in all: on one process fewer that is above 0.5 each.
    assert run(policy, [sample(t, processes=2, busy=0.9) for t in range(0, 120, 5)]) == []
    # Frames wait and no batch finished: a long batch is running, that is not idle.
    assert run(policy, [sample(t, processes=2, lag=9, busy=0.0) for t in range(0, 120, 5)]) == []
    # Unknown busy time (metrics off) never counts as idle.
    assert run(policy, [sample(t, processes=2, busy=math.nan) for t in range(0, 120, 5)]) == []


def test_sessions_keep_their_pipelines_and_waiting_clients_get_one_at_once() -> None:
    policy = StagePolicy(RULE)
    # Idle, but the sessions in use need both face processes (pipelines): keep them.
    assert run(policy, [sample(t, processes=2, sessions_floor=2) for t in range(0, 90, 5)]) == []
    step = policy.decide(sample(100, processes=2, sessions_floor=2, sessions_wanted=3))
    assert step is not None and (step.delta, step.reason) == (1, Reason.QUEUE)
    assert pipelines_for(0, 4) == 0 and pipelines_for(5, 4) == 2 and pipelines_for(8, 4) == 2


def test_pressure_interrupts_idleness() -> None:
    policy = StagePolicy(RULE)
    samples = [sample(t, processes=2) for t in range(0, 25, 5)]
    samples.append(sample(25, processes=2, lag=100))
    samples += [sample(t, processes=2) for t in range(30, 55, 5)]
    assert run(policy, samples) == []  # idle 0-20, pressed at 25, idle again only from 30
    assert run(policy, [sample(60, processes=2)]) == [(60, -1, "idle")]


def test_quantiles_of_a_cumulative_histogram() -> None:
    buckets = [(0.1, 10.0), (0.5, 50.0), (1.0, 90.0), (2.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(buckets, 0.5) == 0.5
    assert histogram_quantile(buckets, 0.95) == 2.0
    assert histogram_quantile([(1.0, 0.0), (math.inf, 0.0)], 0.95) is None
    assert histogram_quantile([(1.0, 1.0), (math.inf, 10.0)], 0.95) == 1.0  # at least 1 s


def test_counters_are_read_from_a_metrics_page_and_summed_as_deltas() -> None:
    registry = CollectorRegistry()
    age = Histogram("vigil_frame_age_seconds", "age", ["stage"], buckets=(0.5, 1, 2),
                    registry=registry)
    busy = Histogram("vigil_stage_latency_seconds", "busy", ["stage"], registry=registry)
    for value in (0.2, 0.7, 3.0):
        age.labels("face").observe(value)
    age.labels("phone").observe(0.1)
    busy.labels("face").observe(1.25)
    first = parse_counters(generate_latest(registry).decode(), "face")
    assert first.busy_s == 1.25
    assert first.age_buckets == ((0.5, 1.0), (1.0, 2.0), (2.0, 2.0), (math.inf, 3.0))
    age.labels("face").observe(0.3)
    second = parse_counters(generate_latest(registry).decode(), "face")
    gained = bucket_delta(second.age_buckets, first.age_buckets)
    assert gained == [(0.5, 1.0), (1.0, 1.0), (2.0, 1.0), (math.inf, 1.0)]
    assert sum_buckets([gained, gained])[0] == (0.5, 2.0)


def test_process_bounds_are_settings_and_replicas_are_named_after_their_stage() -> None:
    settings = load_settings(face_processes_min=2, face_processes_max=4, metrics_port_base=9400)
    assert settings.scaling.stage_process_bounds("face") == (2, 4)
    assert settings.scaling.stage_process_bounds("audit") == (1, 1)
    names = [c.name for c in stage_children(settings)]
    assert names.count("face") == 1 and "face-1" in names and len(names) == 8
    assert [process_name("face", r) for r in (0, 2)] == ["face", "face-2"]
    assert [stage_of(n) for n in ("face-2", "face", "phone-10")] == ["face", "face", "phone"]
    with pytest.raises(SettingsError, match="face_processes_min=3 is above face_processes_max=2"):
        load_settings(face_processes_min=3, face_processes_max=2)
