"""The face and phone stages through the in-memory harness: real weights, real images, no
broker. Redis is a private redis-server (the triage asks it which sessions ended).

The broker-backed runs of the model stages (test_model_reload.py, test_load_shedding.py)
prove the wiring: the runner's consumer loop, control events, a real group's commits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from control.cluster import redis_keys as keys
from processors.face import EnrolledCache, FaceInference
from processors.model_stage import ModelStage
from processors.phone import PhoneInference
from processors.triage import FrameTriage, SessionRegistry
from processors.vision.imaging import read_image, webcam_jpeg
from schemas.events import FaceResult, FrameHeaders, PhoneResult, Unprocessed
from schemas.serializers import Frame, header_value
from tests.conftest import SHARED_WEIGHTS, model_cache, require_testdata
from tests.private_redis import private_redis
from vigil.core.flow import (
    FACE_RESULTS,
    FACE_STAGE,
    FRAMES,
    FRAMES_DLQ,
    PHONE_RESULTS,
    PHONE_STAGE,
)
from vigil.core.settings import Settings, load_settings
from vigil.core.template import Template
from vigil.testing.harness import Harness

# (client, image relative to testdata)
STREAM = [
    ("obama", "faces/obama_2.jpg"),
    ("obama", "faces/biden_1.jpg"),
    ("live", "spoof/image_T1.jpg"),
    ("live", "spoof/image_F1.jpg"),
    ("objects", "objects/tflite_examples_table.jpg"),
    ("objects", "objects/coco_val2017_000000001296_face_phone.jpg"),
]


@pytest.fixture
def model_settings(tmp_path: Path, fetched_weights: Path) -> Iterator[Settings]:
    """Settings with the fetched weights and a private Redis; no Kafka anywhere."""
    with private_redis(tmp_path / "redis") as server:
        yield load_settings(state_dir=tmp_path / "state", weights_dir=fetched_weights,
                            weights_mirror=SHARED_WEIGHTS, redis_url=server.url,
                            model_cache_dir=model_cache(fetched_weights),
                            kafka_bootstrap="127.0.0.1:9", namespace="harness")


def send_frame(harness: Harness, client: str, session: str, seq: int, jpeg: bytes) -> str:
    """One frame on the in-memory ``frames`` topic, as the gateway writes it."""
    frame_id = f"f-{uuid.uuid4().hex[:12]}"
    now = int(time.time() * 1000)
    headers = FrameHeaders(frame_id=frame_id, client_id=client, session_id=session, seq=seq,
                           captured_at=now, received_at=now)
    value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
    harness.send(FRAMES, client, value, kafka_headers)
    return frame_id


def send_stream(harness: Harness, testdata: Path) -> dict[str, str]:
    """The stream plus one truncated JPEG; returns frame_id -> image name."""
    names = {}
    items = [(c, testdata / p, None) for c, p in STREAM]
    items.append(("live", testdata / "spoof/image_T1.jpg", 500))  # cut short: undecodable
    for seq, (client, path, cut) in enumerate(items, start=1):
        jpeg = webcam_jpeg(read_image(str(path)), quality=60)
        frame_id = send_frame(harness, client, "s-1", seq, jpeg[:cut] if cut else jpeg)
        names[frame_id] = path.name if cut is None else "truncated"
    return names


def test_face_and_phone_stages_emit_one_result_per_frame(model_settings: Settings) -> None:
    testdata = require_testdata()
    settings = model_settings
    enrolled: dict[str, Template] = {}
    infer = FaceInference(settings, EnrolledCache(enrolled.get))
    obama = infer.chain.run([read_image(str(testdata / "faces/obama_1.jpg"))])[0].faces[0]
    enrolled["obama"] = Template(np.stack([obama.embedding]).astype(np.float32))
    harness = Harness(settings)
    face = ModelStage(FACE_STAGE, settings, infer, harness.io, follow=False)
    phone = ModelStage(PHONE_STAGE, settings, PhoneInference(settings), harness.io,
                       follow=False)
    assert phone.device in {"cpu", "cuda"}
    names = send_stream(harness, testdata)  # after loading: fresh when the stages see them
    assert harness.run(FACE_STAGE, face) == len(STREAM) + 1
    assert harness.run(PHONE_STAGE, phone) == len(STREAM) + 1

    faces = {r.frame_id: r for r in harness.values(FACE_RESULTS)}
    phones = {r.frame_id: r for r in harness.values(PHONE_RESULTS)}
    by_name = {name: fid for fid, name in names.items()}
    assert {names[f] for f in faces} == set(by_name)
    assert {names[f] for f in phones} == set(by_name)
    # The undecodable frame is answered too, so decide can say bad_frame to its client.
    for bad in (faces.pop(by_name["truncated"]), phones.pop(by_name["truncated"])):
        assert bad.unprocessed is Unprocessed.BAD_FRAME and "truncated" in (bad.error or "")
    assert all(r.unprocessed is None for r in [*faces.values(), *phones.values()])

    def face_of(name: str) -> FaceResult:
        return faces[by_name[name]]

    def phone_of(name: str) -> PhoneResult:
        return phones[by_name[name]]

    assert len(face_of("obama_2.jpg").faces) == 1 and face_of("obama_2.jpg").match
    assert face_of("obama_2.jpg").enrolled and face_of("obama_2.jpg").faces[0].distance is not None
    assert len(face_of("biden_1.jpg").faces) == 1 and not face_of("biden_1.jpg").match
    assert face_of("image_T1.jpg").live and not face_of("image_T1.jpg").enrolled
    assert not face_of("image_F1.jpg").live
    assert face_of("tflite_examples_table.jpg").faces == []
    assert phone_of("coco_val2017_000000001296_face_phone.jpg").phone
    assert not phone_of("tflite_examples_table.jpg").phone
    # Results name the frame they came from, so the evidence sink can fetch it ...
    result = face_of("obama_2.jpg")
    assert result.frame.topic == FRAMES.name(settings) and result.seq == 1
    # ... and the model versions that produced them; a frame no model saw names none.
    assert set(result.models) == {"face_detector", "face_embedder", "liveness_model"}
    assert set(phone_of("tflite_examples_table.jpg").models) == {"phone_detector"}
    assert bad.models == {}

    # The truncated frame went to the DLQ (once per stage) with the error in a header.
    dead = harness.records(FRAMES_DLQ)
    assert len(dead) == 2
    assert {header_value(m.headers(), "frame_id") for m in dead} == {by_name["truncated"]}
    assert "truncated" in (header_value(dead[0].headers(), "error") or "")
    # Both groups committed everything they consumed.
    end = {f"{FRAMES.name(settings)}[0]": len(STREAM) + 1}
    assert harness.committed(FACE_STAGE) == end == harness.committed(PHONE_STAGE)


def test_an_ended_sessions_frames_skip_the_models_and_are_answered(
        model_settings: Settings) -> None:
    testdata = require_testdata()
    settings = model_settings
    client = redis.Redis.from_url(settings.redis.url)
    client.set(keys.ended_session_key(settings.deployment.namespace, "s-gone"), "1")
    harness = Harness(settings)
    triage = FrameTriage(settings, SessionRegistry(settings, client))
    phone = ModelStage(PHONE_STAGE, settings, PhoneInference(settings), harness.io,
                       triage=triage, follow=False)
    jpeg = webcam_jpeg(read_image(str(testdata / "faces/obama_2.jpg")), quality=60)
    gone = send_frame(harness, "alice", "s-gone", 1, jpeg)
    live = send_frame(harness, "bob", "s-live", 1, jpeg)
    harness.run(PHONE_STAGE, phone)
    results = {r.frame_id: r for r in harness.values(PHONE_RESULTS)}
    assert results[gone].unprocessed is Unprocessed.SESSION_ENDED and results[gone].models == {}
    assert results[live].unprocessed is None and set(results[live].models) == {"phone_detector"}
    assert harness.records(FRAMES_DLQ) == []


def test_the_phone_stage_reuses_detections_while_a_clients_scene_is_still(
        model_settings: Settings) -> None:
    """Through the stage: the same picture again reuses the first frame's detections (and
    says so); a changed scene, another session or reuse turned off runs the detector."""
    testdata = require_testdata()
    harness = Harness(model_settings)
    phone = ModelStage(PHONE_STAGE, model_settings, PhoneInference(model_settings),
                       harness.io, follow=False)
    still = webcam_jpeg(read_image(str(testdata / "faces/obama_2.jpg")), quality=60)
    other = webcam_jpeg(read_image(str(testdata / "objects/coco_val2017_000000001296_face_phone"
                                                  ".jpg")), quality=60)
    sent = [send_frame(harness, "alice", "s-1", seq, jpeg)
            for seq, jpeg in enumerate([still, still, still, other, other], start=1)]
    sent.append(send_frame(harness, "alice", "s-2", 6, other))
    harness.run(PHONE_STAGE, phone)
    results = {r.frame_id: r for r in harness.values(PHONE_RESULTS)}
    assert [results[f].reused_from for f in sent] == [None, sent[0], sent[0], None, sent[3],
                                                       None]
    assert results[sent[4]].phone and results[sent[4]].phones == results[sent[3]].phones

    off = model_settings.replace(phone_reuse_max_gap_ms=0)
    harness = Harness(off)
    phone = ModelStage(PHONE_STAGE, off, PhoneInference(off), harness.io, follow=False)
    sent = [send_frame(harness, "alice", "s-1", seq, still) for seq in (1, 2)]
    harness.run(PHONE_STAGE, phone)
    assert [r.reused_from for r in harness.values(PHONE_RESULTS)] == [None, None]


def test_a_result_not_delivered_leaves_the_batch_uncommitted(model_settings: Settings) -> None:
    testdata = require_testdata()
    settings = model_settings
    harness = Harness(settings)
    phone = ModelStage(PHONE_STAGE, settings, PhoneInference(settings), harness.io,
                       follow=False)
    jpeg = webcam_jpeg(read_image(str(testdata / "faces/obama_2.jpg")), quality=60)
    send_frame(harness, "alice", "s-1", 1, jpeg)

    def lost(*_args: object, **_kwargs: object) -> int:
        return 1  # one message still queued after the flush: not on the broker

    phone.frames.producer.flush = lost  # type: ignore[method-assign]
    with pytest.raises(Exception, match="not delivered"):
        harness.run(PHONE_STAGE, phone)
    assert harness.committed(PHONE_STAGE) == {}
