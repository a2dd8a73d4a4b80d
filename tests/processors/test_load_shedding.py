"""A restart with a backlog: the models see only the new client's frame; the backlog of an
ended session is skipped and a live session's old frames are answered ``stale``.

In-memory topics (vigil/testing/harness.py), real Redis, real models. One partition, so the
new client's frame sits behind the whole backlog, as after `vigil up` restarts with a
saturated topic. The assertions are on
what ran through the models and what was decided, not on timings.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from control.cluster import redis_keys as keys
from processors.decide.decider import Decider
from processors.decide.policy_file import DEFAULT_POLICY_FILE, load_policy
from processors.face import EnrolledCache, FaceInference
from processors.model_stage import ModelStage
from processors.phone import PhoneInference
from processors.vision.imaging import read_image, webcam_jpeg
from schemas.events import Action, FaceResult, FrameHeaders, PhoneResult, Reason, Unprocessed
from schemas.serializers import Frame
from tests.conftest import SHARED_WEIGHTS, model_cache, require_testdata
from tests.private_redis import private_redis
from vigil.core.flow import FACE_RESULTS, FACE_STAGE, FRAMES, PHONE_RESULTS, PHONE_STAGE
from vigil.core.settings import Settings, load_settings
from vigil.testing.harness import Harness

BACKLOG = 40  # frames of a session that ended before the restart
STALE = 3  # frames of a live session that waited past frame_max_age_ms


@pytest.fixture
def one_partition(tmp_path: Path, fetched_weights: Path) -> Iterator[Settings]:
    with private_redis(tmp_path / "redis") as server:
        yield load_settings(state_dir=tmp_path / "state", weights_dir=fetched_weights,
                            weights_mirror=SHARED_WEIGHTS, redis_url=server.url,
                            model_cache_dir=model_cache(fetched_weights), partitions=1,
                            frame_max_age_ms=5000, decide_deadline_ms=5000,
                            kafka_bootstrap="127.0.0.1:9", namespace="shedding")


def send(harness: Harness, frames: list[tuple[FrameHeaders, bytes]]) -> None:
    for headers, jpeg in frames:
        value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
        harness.send(FRAMES, headers.client_id, value, kafka_headers)


def frame(client: str, session: str, seq: int, received_at: int) -> FrameHeaders:
    return FrameHeaders(frame_id=f"{client}-{seq}-{uuid.uuid4().hex[:6]}", client_id=client,
                        session_id=session, seq=seq, captured_at=received_at - 20,
                        received_at=received_at)


def test_a_backlog_of_an_ended_session_costs_the_models_nothing(one_partition: Settings
                                                                ) -> None:
    settings = one_partition
    testdata = require_testdata()
    jpeg = webcam_jpeg(read_image(str(testdata / "faces/obama_2.jpg")), quality=60)
    ns = settings.deployment.namespace
    r = redis.Redis.from_url(settings.redis.url)
    r.set(keys.ended_session_key(ns, "s-gone"), "1")  # released by the gateway at shutdown
    r.hset(keys.session_key(ns, "waiting"), mapping={"session_id": "s-wait"})
    r.hset(keys.session_key(ns, "newcomer"), mapping={"session_id": "s-new"})
    r.close()

    harness = Harness(settings)
    face = ModelStage(FACE_STAGE, settings, FaceInference(settings, EnrolledCache(
        lambda _client: None)), harness.io, follow=False)  # models loaded: the "restart"
    phone = ModelStage(PHONE_STAGE, settings, PhoneInference(settings), harness.io,
                       follow=False)
    now = int(time.time() * 1000)
    backlog = [frame("gone", "s-gone", n, now - 120_000 + n) for n in range(BACKLOG)]
    stale = [frame("waiting", "s-wait", n, now - 60_000 + n) for n in range(STALE)]
    first = frame("newcomer", "s-new", 1, int(time.time() * 1000))
    send(harness, [(h, jpeg) for h in [*backlog, *stale, first]])
    harness.run(FACE_STAGE, face)
    harness.run(PHONE_STAGE, phone)

    results: list[FaceResult | PhoneResult] = [*harness.values(FACE_RESULTS),
                                               *harness.values(PHONE_RESULTS)]
    assert len(results) == 2 * (BACKLOG + STALE + 1)
    by_client: dict[str, set[Unprocessed | None]] = {}
    for result in results:
        by_client.setdefault(result.client_id, set()).add(result.unprocessed)
    assert by_client == {"gone": {Unprocessed.SESSION_ENDED}, "waiting": {Unprocessed.STALE},
                         "newcomer": {None}}
    # Only the newcomer's frame went through the models, and they found its face.
    ran = [r for r in results if r.unprocessed is None]
    assert [r.frame_id for r in ran] == [first.frame_id] * 2
    assert len(next(r for r in ran if isinstance(r, FaceResult)).faces) == 1

    decisions = decide_all(settings, results)
    assert [(d.client_id, d.reason) for d in decisions if d.client_id != "waiting"] == [
        ("newcomer", Reason.WRONG_USER)]  # a real verdict (nothing enrolled), not incomplete
    stale_decisions = [d for d in decisions if d.client_id == "waiting"]
    assert len(stale_decisions) == STALE
    assert {(d.reason, d.action) for d in stale_decisions} == {(Reason.STALE,
                                                                Action.LOCK_SCREEN)}


def decide_all(settings: Settings, results: list[FaceResult | PhoneResult]) -> list[Any]:
    """The decide stage's join and policy over the results, in the order they came."""
    policy = load_policy(DEFAULT_POLICY_FILE, settings)
    decider = Decider({}, {}, {}, lambda: policy, settings.decide.deadline_ms)
    decisions = []
    for result in results:
        half = "face" if isinstance(result, FaceResult) else "phone"
        outcome = decider.on_result(half, result, 0)
        if outcome is not None:
            decisions.append(outcome.decision)
    assert decider.pending == {}  # nothing left waiting for a deadline
    return decisions
