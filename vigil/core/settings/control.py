"""The control plane: heartbeats, the user database, the clients file, the outbox."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from vigil.core.settings.base import Area

USER_DB_SCHEMES = ("postgresql", "postgres")  # the URL schemes of a PostgreSQL user_db


class ControlSettings(Area):
    """Heartbeats, the user database, blocked clients, the outbox of control events."""

    heartbeat_ttl_s: float = Field(
        10.0, ge=0.5, le=600.0, description="Lifetime of every heartbeat and session slot in "
        "Redis; refreshed every third of it, so a crashed process frees its slots after this."
    )
    user_db: str | None = Field(
        None, description="The user database (clients, token hashes, encrypted embeddings): "
        "a SQLite file path (default STATE_DIR/users.sqlite3) for one machine, or a "
        "postgresql://USER@HOST:PORT/DB URL for a database that several machines share."
    )
    clients_file: Path | None = Field(
        None, description="Optional YAML file of blocked and paused clients (keys `blocked` "
        "and `paused`: client_id -> reason), applied by the gateway without a restart."
    )
    clients_file_poll_s: float = Field(
        1.0, ge=0.1, le=3600.0, description="How often the gateway checks clients_file's "
        "modification time."
    )
    outbox_poll_s: float = Field(
        1.0, gt=0.0, le=600.0, description="How often each gateway delivers the outbox: "
        "control events stored while Redis or Kafka was down (control/events/outbox.py)."
    )
    outbox_delivery_timeout_s: float = Field(
        5.0, gt=0.0, le=300.0, description="How long one control event may wait for Kafka "
        "before the outbox keeps it for a later round (a command waits about this long when "
        "Kafka is down)."
    )

    @field_validator("user_db")
    @classmethod
    def _check_user_db(cls, value: str | None) -> str | None:
        # Without this, "mysql://..." would become a SQLite file in a folder named "mysql:".
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?", value or "")
        if scheme is None:
            return value
        postgres = scheme.group(1).lower() in USER_DB_SCHEMES
        if bool(scheme.group(2)) != postgres:  # another scheme, or "postgresql:" without //
            raise ValueError(f"cannot serve a user database at {scheme.group(0)}...: use "
                             "postgresql://USER@HOST:PORT/DB or a SQLite file path")
        return value

    @property
    def user_db_url(self) -> str | None:
        """The PostgreSQL URL of the user database, or None when it is a SQLite file."""
        if self.user_db is not None and self.user_db.split(":", 1)[0].lower() in USER_DB_SCHEMES:
            return self.user_db
        return None
