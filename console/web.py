"""The console's HTTP plumbing on the standard library: requests, responses, one handler.

``http.server`` keeps the console free of a web framework: it serves a handful of pages to a
few auditors. Every response carries a strict Content-Security-Policy (no script, styles and
images from the console only) and ``Cache-Control: no-store`` (pages show evidence).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
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
    remote: str
    origin: str | None
    host: str


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


def make_handler(dispatch: Dispatch) -> type[BaseHTTPRequestHandler]:
    """A request handler class that parses each request and sends what dispatch returns."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "vigil-console"
        sys_version = ""

        def do_GET(self) -> None:
            self._handle(b"")

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_BODY_BYTES:
                self._send(Response.html(413, "request too large"))
                return
            self._handle(self.rfile.read(size))

        def _handle(self, body: bytes) -> None:
            url = urlsplit(self.path)
            form = (dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
                    if self.headers.get_content_type() == "application/x-www-form-urlencoded"
                    else {})
            request = Request(self.command, url.path, dict(parse_qsl(url.query)), form,
                              _cookies(self.headers.get("Cookie")), self.client_address[0],
                              self.headers.get("Origin"), self.headers.get("Host", ""))
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


def serve(host: str, port: int, dispatch: Dispatch) -> ThreadingHTTPServer:
    """A bound server (port 0: any free one); call serve_forever() to run it."""
    server = ThreadingHTTPServer((host, port), make_handler(dispatch))
    server.daemon_threads = True
    return server
