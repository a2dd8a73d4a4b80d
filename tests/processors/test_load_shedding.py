"""A restart with a backlog: the models see only the new client's frame; the backlog of an
ended session is skipped and a live session's old frames are answered ``stale``.

Real broker, real Redis, real models. One partition, so the new client's frame sits behind
the whole backlog, as after `vigil up` restarts with a saturated topic. The assertions are on
what ran through the models and what was decided, not on timings.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from control.cluster import redis_keys as keys
from processors.decide.decider import Decider
from processors.decide.policy_file import DEFAULT_POLICY_FILE, load_policy
from processors.face import face_loop
from processors.phone import phone_loop
from processors.vision.imaging import read_image, webcam_jpeg
from schemas.events import Action, FaceResult, FrameHeaders, PhoneResult, Reason, Unprocessed
from schemas.serializers import Frame
from tests.conftest import Infra, make_settings, require_testdata
from tests.processors.test_model_stages import collect
from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import Settings
from vigil.core.topics import FACE_RESULTS, FRAMES, PHONE_RESULTS, create_topics

pytestmark = pytest.mark.integration
BACKLOG = 40  # frames of a session that ended before the restart
STALE = 3  # frames of a live session that waited past frame_max_age_ms


@pytest.fixture
def one_partition(infra: Infra, namespace: str, tmp_path: Path, fetched_weights: Path
                  ) -> Settings:
    settings = make_settings(infra, namespace, tmp_path / "state", fetched_weights,
                             partitions=1, frame_max_age_ms=5000, decide_deadline_ms=5000)
    create_topics(settings)
    return settings


def produce(settings: Settings, frames: list[tuple[FrameHeaders, bytes]]) -> None:
    producer = make_producer(settings)
    for headers, jpeg in frames:
        value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
        producer.produce(FRAMES.name(settings), key=headers.client_id, value=value,
                         headers=kafka_headers)
    assert producer.flush(30) == 0


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

    stop = threading.Event()
    face, _ = face_loop(settings, lambda _c: None, stop)  # models loaded: the "restart"
    phone, _ = phone_loop(settings, stop)
    now = int(time.time() * 1000)
    backlog = [frame("gone", "s-gone", n, now - 120_000 + n) for n in range(BACKLOG)]
    stale = [frame("waiting", "s-wait", n, now - 60_000 + n) for n in range(STALE)]
    first = frame("newcomer", "s-new", 1, int(time.time() * 1000))
    produce(settings, [(h, jpeg) for h in [*backlog, *stale, first]])

    threads = [threading.Thread(target=loop.run) for loop in (face, phone)]
    for thread in threads:
        thread.start()
    try:
        reader = make_consumer(settings, f"{ns}-reader")
        reader.subscribe([FACE_RESULTS.name(settings), PHONE_RESULTS.name(settings)])
        messages = collect(reader, 2 * (BACKLOG + STALE + 1), timeout_s=180)
        reader.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    results: list[FaceResult | PhoneResult] = [
        FACE_RESULTS.serializer.loads(m.value()) if m.topic() == FACE_RESULTS.name(settings)
        else PHONE_RESULTS.serializer.loads(m.value()) for m in messages]
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
