"""The measured admission rule: share arithmetic, and admission through a real Redis."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Histogram

from control.cluster.admission import AdmissionController, AdmissionResult, occupancy
from control.cluster.heartbeat import Heartbeat
from control.cluster.share import ShareMeter, ShareRule, StageCounters, read_counters
from tests.private_redis import PrivateRedis
from vigil.core.flow import FACE_STAGE, PHONE_STAGE
from vigil.core.settings import Settings, load_settings

RULE = ShareRule(session_fps=1.0, target=0.5, floor=2, ceiling=30, smoothing_s=1e-6,
                 age_high_s=1.0)


class Process:
    """A model process's cumulative counters, advanced one beat (3 s) at a time."""

    def __init__(self, meter: ShareMeter) -> None:
        self.meter = meter
        self.now = StageCounters(0, 0, 0, 0, 0)
        meter.update(self.now)  # the baseline

    def beat(self, frames: float = 40, busy_s: float = 2, stale: float = 0,
             mean_age_s: float = 0.1) -> int:
        """One beat of ``frames`` evaluated in ``busy_s``; the share after it."""
        n = self.now
        self.now = StageCounters(n.at + 3, n.evaluated + frames, n.busy_s + busy_s,
                                 n.stale + stale, n.age_sum_s + frames * mean_age_s)
        return self.meter.update(self.now)


def test_share_is_the_floor_until_measured_then_rate_times_target_per_session() -> None:
    process = Process(ShareMeter(RULE))
    assert process.meter.share == 2
    assert process.beat(frames=0, busy_s=0) == 2  # nothing evaluated: nothing measured
    # 40 frames in 2 busy seconds: 20 frames/s x 0.5 / 1 fps = 10 sessions, reached by the
    # slow start: 2 -> 3 -> 4 -> 6 -> 8 -> 10 (at most +25% + 1 a beat).
    assert [process.beat() for _ in range(6)] == [3, 4, 6, 8, 10, 10]
    assert process.meter.rate == pytest.approx(20.0)


def test_share_stays_within_floor_and_ceiling() -> None:
    slow = Process(ShareMeter(RULE))
    assert slow.beat(frames=10, busy_s=10) == 2  # 1 frame/s x 0.5 = 0.5 sessions: the floor
    fast = Process(ShareMeter(RULE))
    shares = [fast.beat(frames=1000, busy_s=1) for _ in range(20)]
    assert max(shares) == shares[-1] == 30  # 500 sessions' worth: the ceiling


def test_stale_frames_and_old_frames_back_the_share_off_and_calm_restores_it() -> None:
    process = Process(ShareMeter(RULE))
    assert [process.beat() for _ in range(8)][-1] == 10
    assert process.beat(stale=1) == 8  # pressure x 0.8
    assert process.beat(mean_age_s=2.0) == 6  # frames waited 2 s on average: x 0.8 again
    assert [process.beat() for _ in range(8)][-1] == 10  # 0.64 + 8 x 0.05 >= 1: calm again


def test_back_off_never_goes_below_the_floor() -> None:
    process = Process(ShareMeter(RULE))
    shares = [process.beat(stale=1) for _ in range(30)]
    assert process.meter.pressure < 0.01
    assert shares[-1] == RULE.floor


def test_restarted_counters_are_a_new_baseline() -> None:
    process = Process(ShareMeter(RULE))
    assert process.beat() == 3
    process.now = StageCounters(9, 5, 1, 0, 0.5)  # fewer frames than before: a restart
    assert process.meter.update(process.now) == 3
    assert process.beat() == 4


def test_counters_are_read_from_the_processs_metrics() -> None:
    registry = CollectorRegistry()
    busy = Histogram("vigil_stage_latency_seconds", "", ["stage"], registry=registry)
    age = Histogram("vigil_frame_age_seconds", "", ["stage"], registry=registry)
    unprocessed = Counter("vigil_frames_unprocessed_total", "", ["stage", "why"],
                          registry=registry)
    busy.labels("phone").observe(0.4)
    for seconds in (0.2, 0.3):
        age.labels("phone").observe(seconds)
    unprocessed.labels("phone", "stale").inc(3)
    unprocessed.labels("phone", "session_ended").inc(5)
    age.labels("face").observe(9)
    got = read_counters("phone", 7.0, registry)
    assert got == StageCounters(7.0, 2, pytest.approx(0.4), 3, pytest.approx(0.5))
    assert read_counters("decide", 1.0, registry) == StageCounters(1.0, 0, 0, 0, 0)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.server.stop()


def beat(settings: Settings, role: str, share: int) -> Heartbeat:
    """A process of ``role`` whose heartbeat carries ``share`` (as a measurement would)."""
    heartbeat = Heartbeat(settings, role, share=share,
                          hold=settings.scaling.admission_share_ceiling)
    heartbeat.beat()
    return heartbeat


def test_sessions_above_the_measured_share_queue_and_are_admitted_in_order(
        private_redis: PrivateRedis, tmp_path: Path) -> None:
    settings = load_settings(redis_url=private_redis.url, namespace="measured",
                             state_dir=tmp_path / "state", heartbeat_ttl_s=30.0)
    assert settings.scaling.admission_rule == "measured"

    async def scenario() -> None:
        client = aioredis.Redis.from_url(settings.redis.url)
        admission = AdmissionController(settings, client)

        async def enter(session: str) -> tuple[AdmissionResult, int, int]:
            got = await admission.enter(session)
            return got.result, got.position, got.capacity

        try:
            face = beat(settings, "face", 2)
            phone = beat(settings, "phone", 3)
            assert await enter("s1") == (AdmissionResult.ADMITTED, 0, 2)
            assert await enter("s2") == (AdmissionResult.ADMITTED, 0, 2)
            for position, session in enumerate(("s3", "s4", "s5"), start=1):
                assert await enter(session) == (AdmissionResult.QUEUED, position, 2)
            face.share = 6  # the face process measured more: the phone stage now limits
            face.beat()
            assert await enter("s5") == (AdmissionResult.QUEUED, 3, 3)  # not before s3
            assert await enter("s3") == (AdmissionResult.ADMITTED, 0, 3)
            assert await enter("s5") == (AdmissionResult.QUEUED, 2, 3)
            phone.share = 4
            phone.beat()
            assert await enter("s5") == (AdmissionResult.QUEUED, 2, 4)  # s4 is first
            assert await enter("s4") == (AdmissionResult.ADMITTED, 0, 4)
            assert await enter("s5") == (AdmissionResult.QUEUED, 1, 4)
            await admission.leave("s1")  # a session ends: the next in line gets its slot
            assert await enter("s5") == (AdmissionResult.ADMITTED, 0, 4)
            # A measured share that falls stops admissions but closes nobody ...
            face.share = 1
            face.beat()
            occupancy = await admission.refresh(["s2", "s3", "s4", "s5"])
            assert (occupancy.capacity, occupancy.used, occupancy.lost) == (1, 4, frozenset())
            assert await enter("s6") == (AdmissionResult.QUEUED, 1, 1)
            # ... a face process that goes away takes its sessions with it.
            face.remove()
            occupancy = await admission.refresh(["s2", "s3", "s4", "s5"])
            assert (occupancy.capacity, occupancy.used) == (0, 0)
            assert occupancy.lost == {"s2", "s3", "s4", "s5"}
            phone.remove()
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_the_sessions_rule_ignores_the_phone_share(
        private_redis: PrivateRedis, tmp_path: Path) -> None:
    settings = load_settings(redis_url=private_redis.url, namespace="seed",
                             state_dir=tmp_path / "state", admission_rule="sessions",
                             max_clients_per_pipeline=3)
    sync = redis.Redis.from_url(settings.redis.url)
    stop = threading.Event()
    try:
        beats = [Heartbeat.start_for_stage(settings, entry, "cpu", stop)
                 for entry in (FACE_STAGE, PHONE_STAGE)]
        assert [b.share for b in beats] == [3, 0]
        assert occupancy(settings, sync).capacity == 3  # the phone's share of 0 does not limit
    finally:
        stop.set()
        sync.close()


def test_the_measured_rule_starts_every_model_process_at_the_floor(
        private_redis: PrivateRedis, tmp_path: Path) -> None:
    settings = load_settings(redis_url=private_redis.url, namespace="floor",
                             state_dir=tmp_path / "state", admission_share_floor=5)
    sync = redis.Redis.from_url(settings.redis.url)
    stop = threading.Event()
    try:
        beats = [Heartbeat.start_for_stage(settings, entry, "cpu", stop)
                 for entry in (FACE_STAGE, PHONE_STAGE)]
        assert [(b.share, b.hold) for b in beats] == [(5, 64), (5, 64)]
        assert occupancy(settings, sync).capacity == 5
    finally:
        stop.set()
        sync.close()
