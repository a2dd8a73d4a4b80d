"""Model hot reload with frames in flight: a running stage, a real broker, real weights.

Frames stream to a running model stage; midway `vigil weights activate` (its function, through
the user database, the outbox and the ``control`` topic) names another plug-in for the
stage's role. Every frame still gets exactly one result, and the results, in frame order,
name the old version up to one frame and the new version from the next on.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from control.clients import ClientControl
from control.users.repository import open_repository
from processors.model_activation import activate_model
from processors.vision.imaging import read_image, webcam_jpeg
from processors.vision.registry import REGISTRY, Role, configured_name
from schemas.events import FaceResult, FrameHeaders, PhoneResult, Unprocessed
from schemas.serializers import Frame
from tests.conftest import require_testdata
from vigil.apps.run_stage import build_stage
from vigil.core.flow import FACE_RESULTS, FACE_STAGE, FRAMES, PHONE_RESULTS, PHONE_STAGE
from vigil.core.flow_types import Runnable, StageIO
from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.weights]

BEFORE = 8  # frames answered by the old model before the activation
MAX_FRAMES = 150  # the stream's bound, whatever happens
AFTER_SWAP = 6  # frames the new model must answer before the stream stops
FRAME_GAP_S = 0.05
TIMEOUT_S = 120.0
CLIENT = "reload-client"

Result = FaceResult | PhoneResult


def other_plugin(settings: Settings, role: Role) -> str:
    """A registry name for ``role`` other than the configured one (whatever the default)."""
    return sorted(set(REGISTRY[role]) - {configured_name(settings, role)})[0]


def frame_producer(settings: Settings, jpeg: bytes) -> Callable[[int], str]:
    producer: Producer = make_producer(settings)

    def send(seq: int) -> str:
        frame_id = f"f-{uuid.uuid4().hex[:12]}"
        now = int(time.time() * 1000)
        headers = FrameHeaders(frame_id=frame_id, client_id=CLIENT, session_id="s-reload",
                               seq=seq, captured_at=now, received_at=now)
        value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
        producer.produce(FRAMES.name(settings), key=CLIENT, value=value, headers=kafka_headers)
        producer.flush(10)
        return frame_id

    return send


def read_results(reader: Consumer, settings: Settings, into: list[Result]) -> None:
    msg = reader.poll(0.2)
    if msg is None or msg.error():
        return
    serializer = (FACE_RESULTS if msg.topic() == FACE_RESULTS.name(settings)
                  else PHONE_RESULTS).serializer
    into.append(serializer.loads(msg.value()))


def stage_for(role: Role, settings: Settings, stop: threading.Event) -> Runnable:
    """The stage as `vigil process` builds it: the table's builder (activations read from
    the user database) in the runner's consumer loop."""
    entry = PHONE_STAGE if role == "phone_detector" else FACE_STAGE
    return build_stage(entry, settings, StageIO(stop=stop))


@pytest.mark.parametrize("role", ["phone_detector", "face_detector"])
def test_a_model_swap_under_load_loses_nothing(role: Role, topics: Settings,
                                               fetched_weights: Path, group_id: str) -> None:
    testdata = require_testdata()
    jpeg = webcam_jpeg(read_image(str(testdata / "objects/coco_val2017_000000001296_face_phone"
                                                 ".jpg")), quality=60)
    old, new = configured_name(topics, role), other_plugin(topics, role)
    output = PHONE_RESULTS if role == "phone_detector" else FACE_RESULTS
    stop = threading.Event()
    stage = stage_for(role, topics, stop)
    runner = threading.Thread(target=stage.run, name="stage")
    runner.start()
    reader = make_consumer(topics, group_id)
    reader.subscribe([output.name(topics)])
    send = frame_producer(topics, jpeg)
    sent: list[str] = []
    results: list[Result] = []
    control = ClientControl(topics, open_repository(topics))
    activated_at_frame = None
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline and len(sent) < MAX_FRAMES:
            sent.append(send(len(sent) + 1))
            read_results(reader, topics, results)
            if activated_at_frame is None and len(results) >= BEFORE:
                assert activate_model(control, role, new, actor="test")
                assert control.problems == {}
                activated_at_frame = len(sent)
            swapped = [r for r in results if r.models.get(role, "").startswith(f"{new}@")]
            if len(swapped) >= AFTER_SWAP:
                break
            time.sleep(FRAME_GAP_S)
        while len(results) < len(sent) and time.monotonic() < deadline:
            read_results(reader, topics, results)
        for _ in range(5):  # a repeat would show up right behind the rest
            read_results(reader, topics, results)
    finally:
        stop.set()
        runner.join(60)
        reader.close()
        control.repo.close()
        control.close()

    assert activated_at_frame is not None, f"only {len(results)} results before the deadline"
    ids = [r.frame_id for r in results]
    assert sorted(ids) == sorted(sent), "every frame exactly one result"
    # A frame that waited past frame_max_age_ms (a loaded machine) is answered `stale`
    # without a model: answered once, as asserted above, but it names no version.
    evaluated = [r for r in results if r.unprocessed is None]
    assert all(r.unprocessed == Unprocessed.STALE for r in results if r.unprocessed), results
    by_seq = sorted(evaluated, key=lambda r: r.seq)
    versions = [r.models[role] for r in by_seq]
    first_new = next(i for i, v in enumerate(versions) if v.startswith(f"{new}@"))
    assert all(v.startswith(f"{old}@") for v in versions[:first_new]), versions
    assert all(v.startswith(f"{new}@") for v in versions[first_new:]), versions
    assert by_seq[first_new].seq > BEFORE
    # The stage reads the activation back when it restarts (the user database keeps it).
    repo = open_repository(topics)
    assert repo.active_models() == {role: new}
    repo.close()
    print(f"{role}: {old} -> {new}: {len(sent)} frames, activation after frame "
          f"{activated_at_frame}, first new result at frame {first_new + 1}")
