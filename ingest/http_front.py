"""The gateway's HTTP side: what a request gets before any WebSocket handshake.

One port serves everything (websockets' ``process_request`` hook answers plain HTTP):

- ``GET /`` and the page's files from ``ingest/web/`` (the browser client), and
  ``GET /healthz`` (200 while the gateway is healthy, else 503);
- ``/v1/stream``, protocol v1's WebSocket endpoint, let through only when
  - its ``Origin`` header is absent (clients that are not browsers send none), the gateway's
    own origin (its page), or one of ``allowed_origins``; anything else is refused with HTTP
    403, so a page elsewhere cannot open a session with its visitor's browser;
  - its remote address holds fewer than ``max_connections_per_address`` open connections;
    one more is refused with HTTP 429 until one of them closes;
- anything else: 404 (405 for a method other than GET or HEAD).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from ingest import protocol
from vigil.core.forwarded import TrustedProxies
from vigil.core.metrics import CONNECTIONS_REFUSED
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
# URL path -> (file in ingest/web/, content type). A fixed table: no path ever reaches the disk.
PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/client.js": ("client.js", "text/javascript; charset=utf-8"),
    "/camera.js": ("camera.js", "text/javascript; charset=utf-8"),
    "/words.js": ("words.js", "text/javascript; charset=utf-8"),
    "/challenge.js": ("challenge.js", "text/javascript; charset=utf-8"),
}
# The page needs nothing from elsewhere: its scripts, styles and WebSocket are all 'self'.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class PageFile:
    text: str
    content_type: str


def load_page_files() -> dict[str, PageFile]:
    """The browser client's files, read once (they are a few kilobytes)."""
    folder = resources.files("ingest") / "web"
    return {path: PageFile((folder / name).read_text(encoding="utf-8"), content_type)
            for path, (name, content_type) in PAGE_FILES.items()}


class HttpFront:
    """The ``process_request`` hook of the gateway's server (see the module docstring)."""

    def __init__(self, settings: Settings, healthy: Callable[[], bool]) -> None:
        self.settings = settings
        self.healthy = healthy
        self.scheme = "https" if settings.gateway.tls_cert is not None else "http"
        self.allowed_origins = frozenset(settings.gateway.allowed_origins)
        self.proxies = TrustedProxies.of(settings.gateway.trusted_proxies)
        self.files = load_page_files()
        self.open_by_address: Counter[str] = Counter()

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == protocol.PATH:
            return self._check_stream(connection, request)
        if request.method not in ("GET", "HEAD"):
            return connection.respond(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD\n")
        if path == HEALTH_PATH:
            ok = self.healthy()
            response = connection.respond(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE,
                                          "ok\n" if ok else "unhealthy\n")
        elif path in self.files:
            response = self._page(connection, self.files[path])
        else:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found: the browser client is "
                                      f"at / and the WebSocket at {protocol.PATH}\n")
        # HEAD: the same headers (Content-Length included), no body.
        return dataclasses.replace(response, body=b"") if request.method == "HEAD" else response

    @staticmethod
    def _page(connection: ServerConnection, page: PageFile) -> Response:
        response = connection.respond(HTTPStatus.OK, page.text)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = page.content_type
        for name, value in PAGE_HEADERS.items():
            response.headers[name] = value
        return response

    def client_address(self, connection: ServerConnection, request: Request | None) -> str:
        """The client's address: the TCP peer's, or what a trusted proxy forwards."""
        peer = _peer(connection)
        return peer if request is None else self.proxies.client_address(peer, request.headers)

    def origin_allowed(self, origin: str | None, host: str | None,
                       scheme: str | None = None) -> bool:
        """No Origin (not a browser), the gateway's own, or one of ``allowed_origins``."""
        if origin is None:
            return True
        origin = origin.lower()
        own = f"{scheme or self.scheme}://{host.lower()}" if host else None
        return origin == own or origin in self.allowed_origins

    def _check_stream(self, connection: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        peer = _peer(connection)
        address = self.proxies.client_address(peer, request.headers)
        scheme = self.proxies.scheme(peer, request.headers, self.scheme)
        if not self.origin_allowed(origin, request.headers.get("Host"), scheme):
            CONNECTIONS_REFUSED.labels("origin").inc()
            log.warning("handshake refused address=%s origin=%s: not an allowed origin",
                        address, origin)
            return connection.respond(
                HTTPStatus.FORBIDDEN, f"origin {origin} may not open {protocol.PATH}: only "
                "the gateway's own page and the origins in its allowed_origins setting may\n")
        limit = self.settings.gateway.max_connections_per_address
        if limit and self.open_by_address[address] >= limit:
            CONNECTIONS_REFUSED.labels("per_address_limit").inc()
            log.warning("handshake refused address=%s: %d connections open (the limit)",
                        address, limit)
            return connection.respond(
                HTTPStatus.TOO_MANY_REQUESTS, f"{address} already holds {limit} connections "
                "(max_connections_per_address); close one and try again\n")
        # Counted from here until the TCP connection is gone, whatever ends it (a failed
        # handshake included), so the count cannot leak.
        self.open_by_address[address] += 1
        connection.connection_lost_waiter.add_done_callback(
            lambda _: self._forget(address))
        return None

    def _forget(self, address: str) -> None:
        self.open_by_address[address] -= 1
        if self.open_by_address[address] <= 0:
            del self.open_by_address[address]


def _peer(connection: ServerConnection) -> str:
    """The TCP peer's address ("unknown" when the socket no longer says)."""
    return str(connection.remote_address[0]) if connection.remote_address else "unknown"
