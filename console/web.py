"""The console's HTTP plumbing on the standard library: requests, responses, one handler.

``http.server`` keeps the console free of a web framework: it serves a handful of pages to a
few auditors. Every response carries a strict Content-Security-Policy (no script, styles and
images from the console only) and ``Cache-Control: no-store`` (pages show evidence).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vigil.core.forwarded import TrustedProxies

log = logging.getLogger(__name__)

NO_PROXIES = TrustedProxies()

MAX_BODY_BYTES = 64 * 1024
# A client gets this long for each read or write on its socket, so an idle or trickling
# connection cannot hold a thread for ever.
SOCKET_TIMEOUT_S = 15.0
# Requests served at once; past it a connection gets 503 at once instead of a thread. A
# console serves a few auditors: this bounds the threads (and memory) a flood can take.
MAX_CONCURRENT_REQUESTS = 32
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]


@dataclass(frozen=True)
class Request:
    """One request, parsed: path, query and form fields (first value of each), cookies."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    remote: str  # the client's address (what a trusted proxy forwards, else the peer's)
    origin: str | None
    host: str
    scheme: str = "http"  # "https" when a trusted proxy says the client used TLS

    @property
    def own_origin(self) -> str:
        """The origin this console's own pages have, as the browser sees it."""
        return f"{self.scheme}://{self.host}"


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, text.encode())

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(303, b"", headers=[("Location", location)])


Dispatch = Callable[[Request], Response]


def _cookies(header: str | None) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def content_length(header: str | None) -> int | None:
    """The body's length, 0 when absent; None when the header is not a plain non-negative
    number (``-1`` would make ``rfile.read`` wait for the client to close)."""
    if header is None or header.strip() == "":
        return 0
    value = header.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def make_handler(dispatch: Dispatch,
                 proxies: TrustedProxies = NO_PROXIES) -> type[BaseHTTPRequestHandler]:
    """A request handler class that parses each request and sends what dispatch returns."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "vigil-console"
        sys_version = ""

        def do_GET(self) -> None:
            self._handle(b"")

        timeout = SOCKET_TIMEOUT_S  # socket timeout for this connection (StreamRequestHandler)

        def do_POST(self) -> None:
            size = content_length(self.headers.get("Content-Length"))
            if size is None:
                self._send(Response.html(400, "bad Content-Length"))
                self.close_connection = True
                return
            if size > MAX_BODY_BYTES:
                self._send(Response.html(413, "request too large"))
                self.close_connection = True
                return
            self._handle(self.rfile.read(size))

        def _handle(self, body: bytes) -> None:
            url = urlsplit(self.path)
            form = (dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
                    if self.headers.get_content_type() == "application/x-www-form-urlencoded"
                    else {})
            peer = self.client_address[0]
            headers = {name: value for name, value in self.headers.items()}
            request = Request(self.command, url.path, dict(parse_qsl(url.query)), form,
                              _cookies(self.headers.get("Cookie")),
                              proxies.client_address(peer, headers), self.headers.get("Origin"),
                              self.headers.get("Host", ""), proxies.scheme(peer, headers, "http"))
            try:
                response = dispatch(request)
            except Exception:
                log.exception("console: %s %s failed", self.command, url.path)
                response = Response.html(500, "internal error: see the console's log")
            self._send(response)

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            for name, value in [*SECURITY_HEADERS, *response.headers,
                                ("Content-Type", response.content_type),
                                ("Content-Length", str(len(response.body)))]:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: object) -> None:
            log.info("console remote=%s %s", self.client_address[0], format % args)

    return Handler


class BoundedThreadingServer(ThreadingHTTPServer):
    """A thread per request, at most ``limit`` at once; past it, 503 and close."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 limit: int = MAX_CONCURRENT_REQUESTS) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(limit)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("console: %d requests at once; refusing %s", MAX_CONCURRENT_REQUESTS,
                        client_address[0])
            try:
                request.sendall(BUSY_RESPONSE)
            except OSError as exc:  # the client left first: nothing to tell it
                log.debug("console: busy answer to %s not sent: %s", client_address[0], exc)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                 b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def serve(host: str, port: int, dispatch: Dispatch, limit: int = MAX_CONCURRENT_REQUESTS,
          proxies: TrustedProxies = NO_PROXIES) -> ThreadingHTTPServer:
    """A bound server (port 0: any free one); call serve_forever() to run it. ``proxies``:
    the proxies whose X-Forwarded-For/-Proto are believed (vigil/core/forwarded.py)."""
    return BoundedThreadingServer((host, port), make_handler(dispatch, proxies), limit)
