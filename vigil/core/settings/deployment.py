"""The deployment: namespace, state folder, logging, the secret key, `vigil up`'s
restarts and `vigil infra up`'s wait."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from vigil.core.settings.base import Area


class DeploymentSettings(Area):
    """Where and under which name a deployment runs, and how `vigil up` keeps it running."""

    namespace: str = Field(
        "vigil",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,48}$",
        description="Prefix of every topic name and Redis key, so deployments can share a "
        "cluster (the seed's NAMESPACE).",
    )
    state_dir: Path = Field(
        Path(".state"),
        description="Folder for local broker and Redis data, logs, the user database, "
        "evidence and fetched weights. Ignored by git.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logging level of every Vigil process."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Base64 32-byte key for encryption at rest. Without it a key file is "
        "created with mode 0600 in STATE_DIR on first use. Never put it in the repo.",
    )
    startup_timeout_s: float = Field(
        60.0, gt=0, le=600, description="How long `vigil infra up` waits for each server."
    )
    restart_max: int = Field(
        5, ge=0, le=1000, description="Restarts of one stage `vigil up` allows within "
        "restart_window_s; one more stops Vigil (a stage that keeps dying needs a person).",
    )
    restart_window_s: float = Field(
        300.0, ge=1.0, le=86_400.0, description="The rolling window of restart_max.",
    )
    restart_capacity_grace_s: float = Field(
        120.0, ge=0.0, le=3600.0, description="How long a face processor that `vigil up` is "
        "restarting keeps its capacity (its heartbeat held), so that its sessions stay open "
        "and their frames wait in Kafka while it loads its models; 0: withdrawn at its TTL.",
    )
