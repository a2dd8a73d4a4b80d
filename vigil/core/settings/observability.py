"""Observability: the /metrics servers and profiling."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.core.settings.base import Area


class ObservabilitySettings(Area):
    """Metrics servers and profiling."""

    metrics_host: str = Field(
        "127.0.0.1", description="Address the /metrics and /healthz servers bind to."
    )
    metrics_port_base: int = Field(
        9400,
        ge=0,
        le=65000,
        description="`vigil up` gives its processes metrics ports from here on (gateway, face, "
        "phone, decide, evidence, audit, replies); 0 turns metrics off.",
    )
    profile_dir: Path | None = Field(
        None, description="When set, every stage process writes a cProfile of its run to "
        "PROFILE_DIR/STAGE-PID.prof when it stops (read with `python -m pstats`); to find "
        "where time goes under load. Profiling slows Python code somewhat.",
    )
