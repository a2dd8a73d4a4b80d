"""The WebSocket gateway: its address, TLS, origins, limits, admission and drain."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from vigil.core.forwarded import parse_networks
from vigil.core.settings.base import Area

# A web origin as browsers send it: scheme://host[:port], nothing after.
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


class GatewaySettings(Area):
    """The WebSocket gateway."""

    host: str = Field(
        "127.0.0.1", min_length=1, validation_alias="gateway_host",
        description="Address the WebSocket gateway listens on."
    )
    port: int = Field(
        8765, ge=0, le=65535, validation_alias="gateway_port",
        description="Port of the WebSocket gateway (ws(s)://HOST:PORT/"
        "v1/stream); 0 lets the OS pick one (tests)."
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate chain: with tls_key, the gateway serves wss://."
    )
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    allowed_origins: tuple[str, ...] = Field(
        (), description="Web origins (scheme://host[:port]) besides the gateway's own whose "
        "pages may open /v1/stream. A browser always sends Origin and one not listed is "
        "refused with HTTP 403; clients that send none (not browsers) are let through."
    )
    max_connections_per_address: int = Field(
        64, ge=0, le=100_000, description="Open WebSocket connections one client address may "
        "hold; one more is refused with HTTP 429 (behind a proxy, the address the proxy "
        "forwards: see trusted_proxies). 0 turns the limit off."
    )
    trusted_proxies: tuple[str, ...] = Field(
        (), description="Addresses or networks (10.0.0.5, 10.0.0.0/24) of proxies in front of "
        "the gateway and the console whose X-Forwarded-For and X-Forwarded-Proto are believed: "
        "the client's address is the right-most forwarded address that is not a trusted proxy. "
        "Headers from any other peer are ignored."
    )
    max_fps: float = Field(
        10.0, gt=0.0, le=240.0, description="Frames per second one client may send; extra "
        "frames are dropped with `error: rate_limited` (a burst of one second is allowed)."
    )
    max_frame_bytes: int = Field(
        1_048_576, ge=1024, le=16 * 1_048_576, description="Largest frame (or any message) "
        "in bytes; a larger one closes the session with 1009."
    )
    max_in_flight: int = Field(
        16, ge=1, le=10_000, description="Frames of one client produced but not yet answered "
        "by a decision; beyond it frames are dropped with `error: rate_limited`."
    )
    in_flight_timeout_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="After this long without a decision a frame no "
        "longer counts as in flight."
    )
    max_session_s: float = Field(
        43_200.0, ge=0.0, le=30 * 86_400.0, description="Longest a session stays open (seconds "
        "since it was admitted); then it closes with 1008 'session expired: sign in again', "
        "so a stolen token's session cannot last for ever. 0: no limit."
    )
    drain_s: float = Field(
        8.0, ge=0.0, le=300.0, validation_alias="gateway_drain_s",
        description="On stop, how long the gateway waits for the "
        "decisions of frames in flight (refusing new frames with error shutting_down) before "
        "it closes its sessions with 1001."
    )
    hello_timeout_s: float = Field(
        5.0, gt=0.0, le=120.0, description="How long the gateway waits for the first message "
        "(hello) before closing with 1002."
    )
    queue_limit: int = Field(
        64, ge=0, le=100_000, description="Clients that may wait for capacity (told their "
        "position); one more is closed with 1013. A waiting client costs an open socket and a "
        "poll every admission_poll_s, so the queue can be longer than the capacity."
    )
    admission_poll_s: float = Field(
        0.5, gt=0.0, le=60.0, description="How often a queued client checks for a free slot."
    )
    auth_failure_limit: int = Field(
        5, ge=1, le=10_000, description="Failed hellos from one address within "
        "auth_failure_window_s after which its hellos are refused (1008 too many failures)."
    )
    auth_failure_window_s: float = Field(
        60.0, ge=1.0, le=86_400.0, description="Window (and cooldown) of auth_failure_limit."
    )

    @field_validator("tls_key")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field check (not a model one) so the error names the key; tls_cert comes first.
        cert = info.data.get("tls_cert")
        if (cert is None) != (value is None):
            given = "tls_cert" if cert is not None else "tls_key"
            raise ValueError(f"{given} is set alone: wss:// needs both tls_cert and tls_key")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin like https://host[:port] "
                                 "(no path, no trailing slash)")
        return tuple(origin.lower() for origin in value)
