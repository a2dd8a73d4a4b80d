"""Redis: where it is."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field

from vigil.core.settings.base import Area


class RedisSettings(Area):
    """The Redis server."""

    url: str = Field(
        "redis://127.0.0.1:6390/0",
        pattern=r"^rediss?://",
        validation_alias="redis_url",
        description="Redis URL. The local server started by `vigil infra up` listens on its "
        "port (6390 by default, away from a system Redis on 6379).",
    )

    @property
    def port(self) -> int:
        """The port of the Redis URL (6379 when it names none)."""
        return urlsplit(self.url).port or 6379
