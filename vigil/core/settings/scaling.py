"""Scaling: the capacity (the seed's Pipeline Manager), processes per model stage and
`vigil up`'s autoscaler."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from vigil.core.settings.base import Area


class ScalingSettings(Area):
    """Capacity, processes per model stage, autoscaling."""

    admission_rule: Literal["measured", "sessions"] = Field(
        "measured", description="How a model process's heartbeat sizes its share of the "
        "capacity. measured: from the frames it evaluates per busy second (the admission_* "
        "settings; face and phone both limit). sessions: the seed's fixed "
        "max_clients_per_pipeline per face process, whatever the load."
    )
    admission_session_fps: float = Field(
        1.0, gt=0.0, le=240.0, description="Frames per second one session is budgeted at "
        "(measured rule): a process evaluating R frames/s offers R x admission_target / this "
        "many sessions. At most the gateway's max_fps is enforced per client."
    )
    admission_target: float = Field(
        0.7, gt=0.0, le=1.0, description="Share of a process's measured rate that admitted "
        "sessions may use (measured rule); the rest absorbs bursts and the machine's noise."
    )
    admission_share_floor: int = Field(
        2, ge=0, le=10_000, description="Sessions a live model process offers before it has "
        "measured anything, and never fewer under back-pressure (measured rule). Low, so "
        "that a loaded machine is not overrun before its first measurement; the share then "
        "grows by at most a quarter (plus one) a heartbeat."
    )
    admission_share_ceiling: int = Field(
        64, ge=1, le=10_000, description="Most sessions one model process offers (measured "
        "rule); max_pipelines x this is the configured capacity."
    )
    admission_smoothing_s: float = Field(
        10.0, gt=0.0, le=3600.0, description="Time constant of the moving average of a "
        "process's measured rate (measured rule)."
    )
    admission_age_high_s: float = Field(
        1.0, gt=0.0, le=600.0, description="Mean age of the frames a model process finished "
        "(gateway receipt to result) above which its share backs off, as it does when it "
        "answers any frame stale (measured rule)."
    )
    max_clients_per_pipeline: int = Field(
        4, ge=1, le=1000, description="Clients one processing pipeline serves (the seed's "
        "MaxClientPerPipeline)."
    )
    max_pipelines: int = Field(
        1, ge=1, le=1000, description="Processing pipelines available (the seed's MaxPipeline)."
    )
    face_processes_min: int = Field(
        1, ge=1, le=64, description="Face processes `vigil up` always runs. Each live face "
        "process is one pipeline: it adds max_clients_per_pipeline to the capacity.",
    )
    face_processes_max: int = Field(
        1, ge=1, le=64, description="Most face processes `vigil up` starts under load; equal "
        "to face_processes_min turns autoscaling of the face stage off. On the 2-core "
        "development machine a second process adds about 1.1 GB RSS (0.6 GB PSS) and competes "
        "for the same two cores.",
    )
    phone_processes_min: int = Field(
        1, ge=1, le=64, description="Phone processes `vigil up` always runs.",
    )
    phone_processes_max: int = Field(
        1, ge=1, le=64, description="Most phone processes `vigil up` starts under load; equal "
        "to phone_processes_min turns autoscaling of the phone stage off.",
    )
    autoscale_interval_s: float = Field(
        2.0, ge=0.2, le=600.0, description="How often `vigil up` measures each model stage "
        "(consumer-group lag from the broker, frame age and busy time from /metrics).",
    )
    autoscale_lag_high: int = Field(
        50, ge=1, le=10_000_000, description="Messages a model stage's consumer group may be "
        "behind; above it for autoscale_up_window_s, one more process starts.",
    )
    autoscale_latency_high_s: float = Field(
        1.5, gt=0.0, le=600.0, description="p95 age of the frames a model stage finishes "
        "(gateway receipt to result); above it for autoscale_up_window_s, one more process "
        "starts. Below the 2 s end-to-end target, which also includes the decide stage.",
    )
    autoscale_up_window_s: float = Field(
        10.0, ge=0.0, le=3600.0, description="How long lag or latency must stay above its "
        "bound before a process is started.",
    )
    autoscale_idle_window_s: float = Field(
        30.0, ge=0.0, le=86_400.0, description="How long a stage must stay idle (no pressure, "
        "and its work would fit on one process fewer) before one process is stopped.",
    )
    autoscale_idle_busy: float = Field(
        0.5, gt=0.0, le=1.0, description="Busy fraction each remaining process may reach for "
        "the stage to count as idle: stop one of n when the summed busy time would be at most "
        "this much on each of n - 1.",
    )

    @field_validator("face_processes_max", "phone_processes_max")
    @classmethod
    def _check_process_bounds(cls, value: int, info: ValidationInfo) -> int:
        # A field check (not a model one) so the error names the key; min comes first.
        name = str(info.field_name).replace("_max", "_min")
        low = info.data.get(name)
        if low is not None and low > value:
            raise ValueError(f"{name}={low} is above {info.field_name}={value}")
        return value

    @field_validator("admission_share_ceiling")
    @classmethod
    def _check_share_bounds(cls, value: int, info: ValidationInfo) -> int:
        floor = info.data.get("admission_share_floor")
        if floor is not None and floor > value:
            raise ValueError(f"admission_share_floor={floor} is above "
                             f"admission_share_ceiling={value}")
        return value

    @property
    def capacity(self) -> int:
        """The configured capacity, sessions the system serves at most at once:
        max_pipelines x max_clients_per_pipeline (sessions rule) or x
        admission_share_ceiling (measured rule)."""
        per = (self.admission_share_ceiling if self.admission_rule == "measured"
               else self.max_clients_per_pipeline)
        return self.max_pipelines * per

    def stage_process_bounds(self, stage: str) -> tuple[int, int]:
        """(minimum, maximum) processes of a stage; (1, 1) for a stage with no bounds here
        (the flow table says which stages scale: those have ``{stage}_processes_min|max``)."""
        low: int = getattr(self, f"{stage}_processes_min", 1)
        high: int = getattr(self, f"{stage}_processes_max", 1)
        return low, high
