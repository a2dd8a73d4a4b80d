"""Replay versus phone-in-hand with the real models' boxes on real photos, as webcam frames.

- ``coco_val2017_000000001296_face_phone.jpg``: a woman holding a phone up beside her face.
  The decision must be ``phone``, with no replay named, whatever liveness says.
- ``spoof/image_F2.jpg``: a face replayed on a handheld screen held up to the camera. The
  decision must be ``spoof``. When the phone detector sees the device (the nano detectors
  here do not: the TFLite YOLOv8n finds no phone in it), the face lies inside its box and the
  scores name it; when it does not, liveness alone has to catch it.

Composites with a phone the default detector finds (the phone of the first photo cut out with
the hand holding it) are tested end to end in tests/e2e/test_composites.py.
"""

from __future__ import annotations

import numpy as np

from processors.decide.policy import evaluate
from processors.decide.policy_file import DEFAULT_POLICY_FILE, load_policy
from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.results import PhoneDetections
from schemas.events import Box, Face, FaceResult, FrameRef, PhoneDetection, PhoneResult, Reason
from tests.vision.conftest import OBJECTS, SPOOF, as_webcam, needs_testdata
from vigil.core.settings import Settings

pytestmark = needs_testdata
COMMON = dict(frame_id="f", client_id="c", session_id="s", seq=1,
              frame=FrameRef(topic="t.frames", partition=0, offset=0), captured_at=1,
              received_at=2)


def results(chain: FaceChain, phone: FramePlugin[PhoneDetections], name: str
            ) -> tuple[FaceResult, PhoneResult]:
    """The face and phone results of one webcam frame, the main face taken as enrolled."""
    frame = as_webcam(name)
    found = chain.run([frame])[0]
    main = max(found.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    faces = [Face(box=Box(x1=f.box[0], y1=f.box[1], x2=f.box[2], y2=f.box[3]),
                  score=min(1.0, f.score), liveness=f.liveness,
                  distance=float(np.linalg.norm(f.embedding - main.embedding)))
             for f in found.faces]
    phones = [PhoneDetection(box=Box(x1=p.box[0], y1=p.box[1], x2=p.box[2], y2=p.box[3]),
                             confidence=p.confidence) for p in phone.infer([frame])[0].phones]
    return (FaceResult(**COMMON, processed_at=3, faces=faces, live=True, match=True,  # type: ignore[arg-type]
                       enrolled=True, device="cpu"),
            PhoneResult(**COMMON, processed_at=3, phones=phones, phone=bool(phones),  # type: ignore[arg-type]
                        device="cpu"))


def test_a_phone_held_beside_the_face_is_phone(chain: FaceChain,
                                               phone: FramePlugin[PhoneDetections],
                                               vision_settings: Settings) -> None:
    policy = load_policy(DEFAULT_POLICY_FILE, vision_settings)
    face, found = results(chain, phone, OBJECTS / "coco_val2017_000000001296_face_phone.jpg")
    verdict = evaluate(face, found, policy)
    assert verdict.reason is Reason.PHONE, verdict
    assert "replay_overlap" not in verdict.scores
    assert verdict.scores["phone"] >= policy.phone_threshold


def test_a_face_replayed_on_a_handheld_screen_is_spoof(chain: FaceChain,
                                                       phone: FramePlugin[PhoneDetections],
                                                       vision_settings: Settings) -> None:
    policy = load_policy(DEFAULT_POLICY_FILE, vision_settings)
    face, found = results(chain, phone, SPOOF / "image_F2.jpg")
    verdict = evaluate(face, found, policy)
    assert verdict.reason is Reason.SPOOF, verdict
    if any(p.confidence >= policy.phone_threshold for p in found.phones):
        assert verdict.scores["replay_overlap"] >= policy.replay_overlap
    else:  # no device seen: liveness caught it
        assert verdict.scores["liveness"] < policy.liveness_threshold
