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
