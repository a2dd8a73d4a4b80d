"""A session of real frames decided by the real stages, for the timeline's browser test.

Photos of ``testdata`` (a live face, a screen replay of it, another person, a phone held up,
an empty table) become webcam frames, run through the loaded face chain and phone detector
into FaceResult and PhoneResult events (the processors' own converters), then through the
decide stage's own Decider under the shipped policy. No model output is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from processors.batch import DecodedFrame
from processors.decide.decider import Decider
from processors.decide.policy_file import load_policy, policy_path
from processors.face import to_face_result
from processors.phone import to_phone_result
from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.imaging import decode_frame, read_image, webcam_jpeg
from processors.vision.results import PhoneDetections
from schemas.events import Decision, FrameHeaders, FrameRef
from vigil.core.settings import Settings
from vigil.core.template import Template

CLIENT, SESSION = "dana", "s-real"
START_MS = 1_790_000_600_000  # ten minutes after the console fixture's first decision
# (photo under testdata, frames in a row); a frame every 500 ms, in this order.
SCRIPT = [("spoof/image_T1.jpg", 4), ("spoof/image_F2.jpg", 3), ("spoof/image_T1.jpg", 4),
          ("faces/obama_1.jpg", 2), ("objects/coco_val2017_000000001296_face_phone.jpg", 2),
          ("objects/tflite_examples_table.jpg", 2), ("spoof/image_T1.jpg", 4)]


@dataclass(frozen=True)
class RealSession:
    decisions: list[Decision]
    jpegs: dict[str, bytes]  # frame_id -> the JPEG the decision was made on


def decide_real_session(testdata: Path, settings: Settings, chain: FaceChain,
                        phone: FramePlugin[PhoneDetections]) -> RealSession:
    """Decisions of one session of the photos in SCRIPT (see the module docstring)."""
    enrolled_face = chain.run([read_image(str(testdata / "spoof/image_T1.jpg"))])[0].faces[0]
    enrolled = Template(np.stack([enrolled_face.embedding]))
    jpegs = [webcam_jpeg(read_image(str(testdata / name)))
             for name, repeat in SCRIPT for _ in range(repeat)]
    frames = [DecodedFrame(FrameHeaders(
        frame_id=f"real-{i:02d}", client_id=CLIENT, session_id=SESSION, seq=i + 1,
        captured_at=START_MS + 500 * i, received_at=START_MS + 500 * i + 20),
        FrameRef(topic="vigil.frames", partition=0, offset=i), decode_frame(jpeg))
        for i, jpeg in enumerate(jpegs)]
    faces = chain.run([f.image for f in frames])
    phones = phone.infer([f.image for f in frames])
    policy = load_policy(policy_path(settings), settings)
    now = [START_MS]
    decider = Decider({}, {}, {}, policy=lambda: policy, deadline_ms=3000,
                      clock=lambda: now[0])
    decisions = []
    for frame, found, seen in zip(frames, faces, phones, strict=True):
        now[0] = frame.headers.received_at + 80
        decider.on_result("face", to_face_result(frame, found, enrolled, settings, "cpu",
                                                 now[0] - 40, chain.versions), 0)
        outcome = decider.on_result("phone", to_phone_result(frame, seen, "cpu", now[0] - 30,
                                                             {}), 0)
        assert outcome is not None, f"no decision for {frame.headers.frame_id}"
        decisions.append(outcome.decision)
    return RealSession(decisions, {f.headers.frame_id: jpeg
                                   for f, jpeg in zip(frames, jpegs, strict=True)})
