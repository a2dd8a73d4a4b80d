"""Builders of FaceResult and PhoneResult for the decide tests (no broker needed)."""

from __future__ import annotations

import time

from processors.decide.policy_file import DEFAULT_POLICY_FILE
from schemas.events import (
    Box,
    Face,
    FaceResult,
    FrameRef,
    PhoneDetection,
    PhoneResult,
    SceneMovement,
    Unprocessed,
)

BIG = Box(x1=100, y1=80, x2=300, y2=330)
SMALL = Box(x1=500, y1=50, x2=560, y2=120)


def face(
    liveness: float | None = 0.9, distance: float | None = 0.5, box: Box = BIG
) -> Face:
    """One detected face; the defaults pass every check."""
    return Face(box=box, score=0.99, liveness=liveness, distance=distance)


def frame_fields(frame_id: str, client_id: str, seq: int = 1, session_id: str | None = None,
                 received_at: int | None = None) -> dict[str, object]:
    received = received_at if received_at is not None else int(time.time() * 1000) - 10
    return {
        "frame_id": frame_id, "client_id": client_id,
        "session_id": session_id or f"s-{client_id}",
        "seq": seq, "frame": FrameRef(topic="t.frames", partition=0, offset=seq),
        "captured_at": received - 10, "received_at": received,
    }


def face_result(
    frame_id: str, client_id: str = "c1", faces: list[Face] | None = None, *,
    enrolled: bool = True, error: str | None = None, seq: int = 1,
    session_id: str | None = None, received_at: int | None = None,
    unprocessed: Unprocessed | None = None, scene: SceneMovement | None = None,
) -> FaceResult:
    faces = [face()] if faces is None and unprocessed is None else faces or []
    return FaceResult(
        **frame_fields(frame_id, client_id, seq, session_id, received_at),  # type: ignore[arg-type]
        processed_at=int(time.time() * 1000), faces=faces, live=unprocessed is None,
        match=unprocessed is None, enrolled=enrolled, error=error, device="cpu",
        unprocessed=unprocessed, scene=scene,
    )


def phone_result(
    frame_id: str, client_id: str = "c1", confidences: tuple[float, ...] = (), *,
    error: str | None = None, seq: int = 1, box: Box = SMALL,
    session_id: str | None = None, received_at: int | None = None,
    unprocessed: Unprocessed | None = None,
) -> PhoneResult:
    phones = [PhoneDetection(box=box, confidence=c) for c in confidences]
    return PhoneResult(
        **frame_fields(frame_id, client_id, seq, session_id, received_at),  # type: ignore[arg-type]
        processed_at=int(time.time() * 1000), phones=phones, phone=bool(phones),
        error=error, device="cpu", unprocessed=unprocessed,
    )


# The shipped policy, with escalation after 2 sign-outs so one test can reach a block quickly,
# and no temporal gate or spoof debounce, so each case decides on its one frame
# (test_decide_restart.py and tests/decide/test_temporal.py cover those).
EDITS = {"sign_outs: 3": "sign_outs: 2", "min_live_frames: 3": "min_live_frames: 0",
         "window: 3": "window: 1", "window: 6": "window: 1", "spoof_frames: 3": "spoof_frames: 1",
         "spoof_below: 0.05": "spoof_below: 0.5"}
POLICY = DEFAULT_POLICY_FILE.read_text()
for _before, _after in EDITS.items():
    assert _before in POLICY, f"the shipped policy no longer has {_before!r}"
    POLICY = POLICY.replace(_before, _after)
