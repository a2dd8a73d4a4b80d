"""The model processors: batches and when a frame is too old to run."""

from __future__ import annotations

from pydantic import Field

from vigil.core.settings.base import Area


class ProcessorsSettings(Area):
    """The face and phone processors' batches and frame ages."""

    face_batch_size: int = Field(
        8, ge=1, le=256, description="Most frames the face processor runs as one batch."
    )
    phone_batch_size: int = Field(
        8, ge=1, le=256, description="Most frames the phone processor runs as one batch."
    )
    batch_deadline_ms: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Longest a processor waits to fill a batch before running what it has.",
    )
    frame_max_age_ms: int = Field(
        5000,
        ge=100,
        le=3_600_000,
        description="A frame older than this (from the gateway's received_at to the moment a "
        "processor reaches it) is not run through the models: a live session's frame is "
        "answered `stale` (its action from the policy file), an ended session's is skipped. "
        "Gateway and processors compare clocks, so keep them synchronised.",
    )
    ended_session_ttl_s: int = Field(
        3600,
        ge=10,
        le=30 * 86400,
        description="How long Redis remembers that a session ended, so the processors skip "
        "its frames still waiting in Kafka (keep it at least as long as frames are kept).",
    )
    phone_reuse_max_gap_ms: int = Field(
        3000,
        ge=0,
        le=60_000,
        description="Longest a phone processor repeats a client's last checked detections on "
        "frames whose scene has not changed (phone_reuse_change) instead of running the "
        "detector; past it the detector always runs. 0 turns reuse off: the detector runs on "
        "every frame. A reused result names the frame it repeats (PhoneResult.reused_from). "
        "On the development sessions (`vigil bench sessions`, 1 and 2 fps) 3000 with change "
        "10 skipped 16% and 30% of the detector's runs, 1 frame of 28,173 decided for "
        "another reason (the same action); figures in docs/benchmarks/end-to-end.md "
        "(fourth round).",
    )
    phone_reuse_change: float = Field(
        10.0,
        gt=0,
        le=255,
        description="A frame's scene changed when any block of a 4x4 grid over its 32x24 "
        "grey thumbnail differs from the client's last checked frame by this much on "
        "average (grey levels 0-255); the detector then runs. Consecutive frames of the "
        "still development sessions differ by 1-10, moving ones by 10-150; a phone-sized "
        "dark shape held up at the side of a webcam frame by 17 "
        "(tests/processors/test_phone_reuse.py).",
    )
    phone_reuse_clients: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Clients whose last checked frame a phone processor remembers (least "
        "recently seen forgotten first; a forgotten client's next frame runs the detector). "
        "About 4 KB each.",
    )
    scene_motion_max_gap_ms: int = Field(
        2000,
        ge=0,
        le=60_000,
        description="Longest gap between two frames of a client whose face's movement the "
        "face processor measures against the scene around it (processors/scene_motion.py: "
        "FaceResult.scene, which the decide stage's challenges.on_flat reads). 0 turns the "
        "measure off. At 2 frames a second a gap is 500 ms; 2000 tolerates a few lost frames.",
    )
    scene_motion_clients: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Clients whose last frame with a face a face processor keeps in memory "
        "for the scene measure (a 320x240 grey copy, 77 KB each; least recently seen "
        "forgotten first, and useless after scene_motion_max_gap_ms).",
    )
