"""The decide stage: its deadline, its policy file, its memory of decided frames."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.core.settings.base import Area


class DecideSettings(Area):
    """The decide stage."""

    deadline_ms: int = Field(
        3000,
        ge=100,
        le=600_000,
        validation_alias="decide_deadline_ms",
        description="How long the decide stage waits for the second half (face or phone "
        "result) of a frame before deciding `incomplete` with the missing half named.",
    )
    policy_file: Path | None = Field(
        None,
        description="The decision policy (YAML: thresholds, actions, debounce, escalation); "
        "defaults to processors/decide/policy.yaml. Reloaded without a restart when it "
        "changes.",
    )
    policy_check_interval_s: float = Field(
        1.0, ge=0.0, le=60.0, description="How often the decide stage checks the policy file's "
        "modification time (0: on every event)."
    )
    decided_frames_ttl_s: int = Field(
        1800,
        ge=10,
        le=7 * 86400,
        description="How long the decide stage remembers a decided frame_id, so a replayed or "
        "late result makes no second decision.",
    )
    decided_sweep_interval_s: float = Field(
        10.0, ge=0.5, le=3600.0, description="How often the decide stage forgets decided "
        "frame_ids older than decided_frames_ttl_s (at most 300 a partition each time, so a "
        "sweep never holds up decisions)."
    )
    web_port: int = Field(
        0,
        ge=0,
        le=65535,
        validation_alias="decide_web_port",
        description="Port of the decide worker's Faust web server on 127.0.0.1; 0 turns it off. "
        "Each worker on one machine needs its own.",
    )
