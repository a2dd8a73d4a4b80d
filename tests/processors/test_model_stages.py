"""The face and phone processors against a real broker, real weights and real images."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition

from processors.face import face_loop
from processors.phone import phone_loop
from processors.vision.chain import FaceChain
from processors.vision.imaging import read_image, webcam_jpeg
from schemas.events import FaceResult, FrameHeaders, PhoneResult, Unprocessed
from schemas.serializers import Frame, header_value
from tests.conftest import require_testdata
from vigil.core.kafka import group_name, make_consumer, make_producer
from vigil.core.settings import Settings
from vigil.core.topics import FACE_RESULTS, FRAMES, FRAMES_DLQ, PHONE_RESULTS

pytestmark = pytest.mark.integration

# (client, image relative to testdata)
STREAM = [
    ("obama", "faces/obama_2.jpg"),
    ("obama", "faces/biden_1.jpg"),
    ("live", "spoof/image_T1.jpg"),
    ("live", "spoof/image_F1.jpg"),
    ("objects", "objects/tflite_examples_table.jpg"),
    ("objects", "objects/coco_val2017_000000001296_face_phone.jpg"),
]


def produce_frames(settings: Settings, testdata: Path) -> dict[str, str]:
    """Produce the stream plus one truncated JPEG; return frame_id -> image name."""
    producer = make_producer(settings)
    names = {}
    items = [(c, testdata / p, None) for c, p in STREAM]
    items.append(("live", testdata / "spoof/image_T1.jpg", 500))  # cut short: undecodable
    for seq, (client, path, cut) in enumerate(items, start=1):
        jpeg = webcam_jpeg(read_image(str(path)), quality=60)
        if cut is not None:
            jpeg = jpeg[:cut]
        frame_id = f"f-{uuid.uuid4().hex[:12]}"
        names[frame_id] = path.name if cut is None else "truncated"
        headers = FrameHeaders(frame_id=frame_id, client_id=client, session_id="s-1", seq=seq,
                               captured_at=int(time.time() * 1000),
                               received_at=int(time.time() * 1000))
        value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, jpeg))
        producer.produce(FRAMES.name(settings), key=client, value=value,
                         headers=kafka_headers)
    assert producer.flush(30) == 0
    return names


def collect(consumer: Consumer, want: int, timeout_s: float) -> list:
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg)
    return got


def test_face_and_phone_stages_emit_one_result_per_frame(
    topics: Settings, fetched_weights: Path, group_id: str
) -> None:
    testdata = require_testdata()
    chain = FaceChain.load(topics)
    obama = chain.run([read_image(str(testdata / "faces/obama_1.jpg"))])[0].faces[0].embedding
    enrolled = {"obama": np.stack([obama]).astype(np.float32)}

    stop = threading.Event()
    face, _ = face_loop(topics, enrolled.get, stop)
    phone, device = phone_loop(topics, stop)
    assert device in {"cpu", "cuda"}
    names = produce_frames(topics, testdata)  # after loading: fresh when the stages see them
    threads = [threading.Thread(target=loop.run) for loop in (face, phone)]
    for thread in threads:
        thread.start()
    try:
        reader = make_consumer(topics, group_id)
        reader.subscribe([t.name(topics) for t in (FACE_RESULTS, PHONE_RESULTS, FRAMES_DLQ)])
        # one result per frame from each stage, and the bad frame dead-lettered by both
        messages = collect(reader, 2 * (len(STREAM) + 1) + 2, timeout_s=240)
        reader.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    faces = {r.frame_id: r for r in (FACE_RESULTS.serializer.loads(m.value()) for m in messages
                                      if m.topic() == FACE_RESULTS.name(topics))}
    phones = {r.frame_id: r for r in (PHONE_RESULTS.serializer.loads(m.value()) for m in messages
                                       if m.topic() == PHONE_RESULTS.name(topics))}
    dead = [m for m in messages if m.topic() == FRAMES_DLQ.name(topics)]
    by_name = {name: fid for fid, name in names.items()}
    assert {names[f] for f in faces} == set(by_name)
    assert {names[f] for f in phones} == set(by_name)
    # The undecodable frame is answered too, so decide can say bad_frame to its client.
    for bad in (faces.pop(by_name["truncated"]), phones.pop(by_name["truncated"])):
        assert bad.unprocessed is Unprocessed.BAD_FRAME and "truncated" in (bad.error or "")
    assert all(r.unprocessed is None for r in [*faces.values(), *phones.values()])

    def face(name: str) -> FaceResult:
        return faces[by_name[name]]

    def phone(name: str) -> PhoneResult:
        return phones[by_name[name]]

    assert len(face("obama_2.jpg").faces) == 1 and face("obama_2.jpg").match
    assert face("obama_2.jpg").enrolled and face("obama_2.jpg").faces[0].distance is not None
    assert len(face("biden_1.jpg").faces) == 1 and not face("biden_1.jpg").match
    assert face("image_T1.jpg").live and not face("image_T1.jpg").enrolled
    assert not face("image_F1.jpg").live
    assert face("tflite_examples_table.jpg").faces == []
    assert phone("coco_val2017_000000001296_face_phone.jpg").phone
    assert not phone("tflite_examples_table.jpg").phone
    # Results name the frame they came from, so the evidence sink can fetch it.
    result = face("obama_2.jpg")
    assert result.frame.topic == FRAMES.name(topics) and result.seq == 1
    # ... and the model versions that produced them; a frame no model saw names none.
    assert set(result.models) == {"face_detector", "face_embedder", "liveness_model"}
    assert set(phone("tflite_examples_table.jpg").models) == {"phone_detector"}
    assert bad.models == {}

    # The truncated frame went to the DLQ (once per stage) with the error in a header.
    assert len(dead) == 2
    assert {header_value(m.headers(), "frame_id") for m in dead} == {by_name["truncated"]}
    assert "truncated" in (header_value(dead[0].headers(), "error") or "")

    # Both groups committed everything they consumed.
    probe = make_consumer(topics, group_name(topics, "face"))
    parts = [TopicPartition(FRAMES.name(topics), p) for p in range(topics.kafka.partitions)]
    committed = {tp.partition: tp.offset for tp in probe.committed(parts, timeout=10)}
    ends = {p: probe.get_watermark_offsets(TopicPartition(FRAMES.name(topics), p),
                                           timeout=10)[1] for p in range(topics.kafka.partitions)}
    probe.close()
    assert all(committed[p] == ends[p] for p in ends if ends[p] > 0), (committed, ends)
