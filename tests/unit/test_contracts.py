"""Contracts: the JSON Schema files match the models; serializers validate."""

from __future__ import annotations

import json

import pytest

from schemas.events import (
    EXPORTED_MODELS,
    Action,
    Box,
    ControlEvent,
    ControlKind,
    Decision,
    Face,
    FaceResult,
    FrameHeaders,
    FrameRef,
    Reason,
)
from schemas.export import JSON_DIR, rendered_schemas
from schemas.serializers import ContractError, Frame
from vigil.core.flow import CONTROL, DECIDE_STAGE, DECISIONS, FACE_RESULTS, FRAMES, TOPICS
from vigil.core.flow_types import Retention
from vigil.core.settings import Settings

REF = FrameRef(topic="vigil.frames", partition=3, offset=42)
COMMON = dict(frame_id="f-1", client_id="alice", session_id="s-1", seq=1, frame=REF,
              captured_at=1_700_000_000_000, received_at=1_700_000_000_010)


def test_json_schema_files_match_the_models() -> None:
    on_disk = {p.name: p.read_text() for p in JSON_DIR.glob("*.schema.json")}
    assert on_disk == rendered_schemas(), "run `vigil schemas export` and commit schemas/json"


def test_every_event_has_schema_version() -> None:
    for model in EXPORTED_MODELS:
        assert "schema_version" in model.model_json_schema()["properties"], model


def test_every_topic_but_the_dlq_and_fausts_own_has_a_serializer() -> None:
    assert {t.suffix for t in TOPICS if t.serializer is None and t.owner is None} == {
        "frames.dlq"}
    assert {t.owner for t in TOPICS if t.serializer is None} == {None, DECIDE_STAGE.name}
    settings = Settings(namespace="t1")
    assert len({t.name(settings) for t in TOPICS}) == len(TOPICS)


def test_topic_names_and_retention_follow_the_settings() -> None:
    settings = Settings(namespace="t1", frames_retention_ms=600_000, audit_retention_days=10)
    assert FACE_RESULTS.name(settings) == "t1.face-results"
    assert FRAMES.retention.ms(settings) == 600_000
    assert DECISIONS.retention is Retention.AUDIT and CONTROL.retention is Retention.AUDIT
    assert DECISIONS.retention.ms(settings) == 10 * 86_400_000
    assert FACE_RESULTS.retention.ms(settings) == 86_400_000


def test_face_result_round_trip() -> None:
    face = Face(box=Box(x1=1, y1=2, x2=30, y2=40), score=0.99, liveness=0.8, distance=0.6)
    event = FaceResult(**COMMON, processed_at=1_700_000_000_100, faces=[face], live=True,
                       match=True, enrolled=True, device="cpu")
    data = FACE_RESULTS.serializer.dumps(event)
    assert json.loads(data)["schema_version"] == 1
    assert FACE_RESULTS.serializer.loads(data) == event


def test_decision_round_trip_and_enums() -> None:
    decision = Decision(**COMMON, decided_at=1_700_000_000_200, action=Action.SIGN_OUT,
                        reason=Reason.SPOOF, scores={"liveness": 0.1}, policy_version="p1")
    again = DECISIONS.serializer.loads(DECISIONS.serializer.dumps(decision))
    assert again.action is Action.SIGN_OUT and again.reason is Reason.SPOOF


def test_events_from_before_model_versions_still_read() -> None:
    decision = Decision(**COMMON, decided_at=1_700_000_000_200, action=Action.ALLOW,
                        reason=Reason.OK, policy_version="p1",
                        models={"face_detector": "yunet@8f2383e4"})
    raw = json.loads(DECISIONS.serializer.dumps(decision))
    assert raw["models"] == {"face_detector": "yunet@8f2383e4"}
    del raw["models"]  # as the decide stage wrote it before models were recorded
    assert DECISIONS.serializer.loads(json.dumps(raw).encode()).models == {}
    control = ControlEvent(event_id="e1", client_id="alice", kind=ControlKind.BLOCKED, at=1)
    old = json.loads(CONTROL.serializer.dumps(control))
    old.pop("activation")
    assert CONTROL.serializer.loads(json.dumps(old).encode()).activation is None


@pytest.mark.parametrize("data", [b"", b"not json", b"{}", b'{"schema_version": 2}',
                                  b"\xff\xfe\x00"])
def test_bad_bytes_raise_the_domain_error(data: bytes) -> None:
    with pytest.raises(ContractError):
        DECISIONS.serializer.loads(data)


def test_unknown_field_is_refused() -> None:
    event = ControlEvent(event_id="e1", client_id="bob", kind=ControlKind.BLOCKED, at=1)
    raw = json.loads(CONTROL.serializer.dumps(event))
    raw["extra"] = 1
    with pytest.raises(ContractError, match="extra"):
        CONTROL.serializer.loads(json.dumps(raw).encode())


def test_serializer_refuses_the_wrong_model() -> None:
    event = ControlEvent(event_id="e1", client_id="bob", kind=ControlKind.PAUSED, at=1)
    with pytest.raises(ContractError, match="expected Decision"):
        DECISIONS.serializer.dumps(event)  # type: ignore[arg-type]


def test_frame_headers_round_trip_through_kafka_headers() -> None:
    headers = FrameHeaders(frame_id="f-9", client_id="alice", session_id="s-1", seq=9,
                           captured_at=1, received_at=2)
    value, kafka_headers = FRAMES.serializer.dumps(Frame(headers, b"\xff\xd8\xff\xe0jpeg"))
    assert {name for name, _ in kafka_headers} == {
        "frame_id", "client_id", "session_id", "seq", "captured_at", "received_at",
        "content_type", "schema_version"}
    frame = FRAMES.serializer.loads(value, kafka_headers)
    assert frame.headers == headers and frame.jpeg == value


def test_frames_refuse_non_jpeg_and_bad_headers() -> None:
    headers = FrameHeaders(frame_id="f", client_id="c", session_id="s", seq=1, captured_at=1,
                           received_at=1)
    with pytest.raises(ContractError, match="not a JPEG"):
        FRAMES.serializer.dumps(Frame(headers, b"\x89PNG\r\n"))
    _, kafka_headers = FRAMES.serializer.dumps(Frame(headers, b"\xff\xd8\xff"))
    broken = [(k, b"../../etc" if k == "client_id" else v) for k, v in kafka_headers]
    with pytest.raises(ContractError, match="client_id"):
        FRAMES.serializer.loads(b"\xff\xd8\xff", broken)
    with pytest.raises(ContractError, match="empty"):
        FRAMES.serializer.loads(b"", kafka_headers)
