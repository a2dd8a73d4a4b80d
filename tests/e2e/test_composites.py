"""Both composite kinds of issue 9 over the WebSocket, through the whole `vigil up` stack.

The enrolled user's own portrait, made by the development set's code (vigil/apps/bench/accuracy):
shown on a phone held up to the camera (a replay: ``spoof``, the device named in the scores),
and with a phone held beside the live face (``phone``). The stack runs the default phone
detector; the scores it gave each picture are in every failure message. Measured offline
(2026-12-02) on these two webcam frames: YOLO11n with the shrunk view 0.86 for the phone
holding the replay, 0.72 for the phone beside the face; the TFLite YOLOv8n boxed only the
replay phone's lower half (0.37, the face outside it: ``phone``) and scored the phone beside
the face 0.16 (``ok``), so this test tells the two detectors apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from processors.vision.base import FramePlugin
from processors.vision.device import DeviceChoice
from processors.vision.imaging import webcam_jpeg
from processors.vision.registry import load_plugin
from processors.vision.results import FaceDetections
from tests.conftest import require_testdata
from tests.e2e.test_stream import outcome
from tests.stack import COMPOSITE_CLIENT, COMPOSITE_PORTRAIT, Running
from vigil.apps.bench.accuracy.devset import portrait_composites

pytestmark = pytest.mark.integration


def composites(running: Running) -> dict[str, bytes]:
    """The portrait's replay and beside composites as a webcam client sends them."""
    testdata = require_testdata()
    device = DeviceChoice("cpu", "cpu", False, "composites for the e2e test")
    settings = running.settings.replace(weights_dir=Path(running.env["VIGIL_WEIGHTS_DIR"]))
    finder = cast(FramePlugin[FaceDetections],
                  load_plugin("face_detector", settings, device, "yunet"))
    made = portrait_composites(testdata, testdata / COMPOSITE_PORTRAIT, finder)
    assert made is not None, f"no face found in {COMPOSITE_PORTRAIT}"
    return {kind: webcam_jpeg(made[kind]) for kind in ("replay", "beside")}


def scores(decisions: dict[int, dict[str, Any]]) -> list[dict[str, float]]:
    return [decisions[seq]["scores"] for seq in sorted(decisions)]


def test_replay_on_a_phone_is_spoof_and_a_phone_beside_the_face_is_phone(
        running: Running) -> None:
    pictures = composites(running)
    beside = running.stream(COMPOSITE_CLIENT, [pictures["beside"]])
    assert outcome(beside) == [("sign_out", "phone")], scores(beside.decisions)
    # A face inside a phone's box is strong evidence (policy.yaml): it signs out at once, on
    # its first frame. (One frame: a third sign-out of the client would escalate to block,
    # which closes the session, racing the decision's delivery.)
    replay = running.stream(COMPOSITE_CLIENT, [pictures["replay"]])
    seen = scores(replay.decisions)
    assert outcome(replay) == [("sign_out", "spoof")], seen
    for frame in seen:
        # The device is named: the face lies inside a phone box this confident.
        assert frame["replay_overlap"] >= 0.6 and frame["replay_phone"] >= 0.3, seen
        assert frame["replay_phone"] <= frame["phone"], seen

