"""Embeddings belong to their embedder: a template of another one is refused, not compared."""

from __future__ import annotations

import numpy as np

from processors.batch import DecodedFrame
from processors.face import to_face_result
from processors.vision.results import AnalyzedFace, FrameFaces
from schemas.events import FrameHeaders, FrameRef
from vigil.core.settings import Settings
from vigil.core.template import Template, decode_template, embedder_mismatch, encode_template

FACENET = "facenet_openvino@b5aac4f6"


def unit_rows(count: int, dim: int) -> np.ndarray:
    rows = np.random.default_rng(1).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def frame_with_face(embedding: np.ndarray) -> tuple[DecodedFrame, FrameFaces]:
    headers = FrameHeaders(frame_id="f-1", client_id="alice", session_id="s-1", seq=1,
                           captured_at=1, received_at=1)
    frame = DecodedFrame(headers, FrameRef(topic="t", partition=0, offset=0),
                         np.zeros((480, 640, 3), np.uint8))
    face = AnalyzedFace((100.0, 100.0, 200.0, 220.0), 0.99, (), embedding, 0.9, True)
    return frame, FrameFaces((face,))


def test_the_template_keeps_the_embedder_that_made_it() -> None:
    kept = Template(unit_rows(2, 8), 0.9, "basis", (), FACENET)
    assert decode_template(encode_template(kept), 2).embedder == FACENET
    untagged = Template(unit_rows(1, 8))
    assert decode_template(encode_template(untagged), 1).embedder == ""


def test_the_same_weights_under_another_runtime_compare_and_other_weights_do_not() -> None:
    template = Template(unit_rows(1, 512), embedder=FACENET)
    assert embedder_mismatch(template, "facenet@b5aac4f6", 512) is None  # torch, same file
    assert embedder_mismatch(template, "", 512) is None  # a caller that does not say
    why = embedder_mismatch(template, "mobilefacenet@f055d9c9", 512)
    assert why is not None and "enroll the client again" in why and FACENET in why
    width = embedder_mismatch(Template(unit_rows(1, 512)), "", 128)  # untagged: width checked
    assert width is not None and "512-d" in width and "128-d" in width


def test_the_face_stage_answers_an_error_instead_of_a_distance_on_a_mismatch() -> None:
    rows = unit_rows(2, 128)
    frame, found = frame_with_face(rows[0])
    template = Template(rows, embedder="mobilefacenet@f055d9c9")
    same = to_face_result(frame, found, template, Settings(), "cpu", 0,
                          {"face_embedder": "mobilefacenet@f055d9c9"})
    assert same.error is None and same.faces[0].distance == 0.0 and same.enrolled
    other = to_face_result(frame, found, template, Settings(), "cpu", 0,
                           {"face_embedder": FACENET})
    assert other.error is not None and "enroll the client again" in other.error
    assert other.faces[0].distance is None and not other.match


def test_a_persons_own_threshold_never_loosens_the_one_in_force() -> None:
    # Enrolled alone when the global threshold was 1.10 (no cohort: own = global), judged now
    # under 1.00; an own threshold tighter than the global one stays.
    rows = unit_rows(2, 128)
    frame, found = frame_with_face(rows[1])  # at distance |rows[0] - rows[1]| from rows[0]
    distance = float(np.linalg.norm(rows[0] - rows[1]))
    settings = Settings(verify_threshold=distance - 0.01)
    for own, judged in ((distance + 0.1, distance - 0.01), (distance - 0.05, distance - 0.05)):
        template = Template(rows[:1], own, embedder=FACENET)
        result = to_face_result(frame, found, template, settings, "cpu", 0,
                                {"face_embedder": FACENET})
        assert result.verify_threshold == judged and not result.match
    unset = to_face_result(frame, found, Template(rows[:1], embedder=FACENET), settings, "cpu",
                           0, {"face_embedder": FACENET})
    assert unset.verify_threshold is None and not unset.match
