"""The auditor console: `vigil console`'s address and its logins."""

from __future__ import annotations

from pydantic import Field

from vigil.core.settings.base import Area


class ConsoleSettings(Area):
    """`vigil console`."""

    host: str = Field(
        "127.0.0.1", min_length=1, validation_alias="console_host",
        description="Address `vigil console` listens on."
    )
    port: int = Field(
        8780, ge=0, le=65535, validation_alias="console_port",
        description="Port of `vigil console` (http://HOST:PORT/); 0 lets "
        "the OS pick one (tests)."
    )
    session_ttl_s: float = Field(
        3600.0, ge=60.0, le=86_400.0, validation_alias="console_session_ttl_s",
        description="How long a console login lasts before the "
        "auditor must log in again (kept on the server, whatever the browser does)."
    )
