"""The console under hostile HTTP: bodies of bad length, idle sockets, floods of connections
and of logins, and a login cookie carrying header-breaking characters.

Each test fails on the console before its hardening: a ``Content-Length: -1`` POST held its
thread until the client closed, connections had no timeout and no cap, every login in a
parallel burst was hashed (16 MiB of scrypt each) before the limiter counted one, and the
login nonce cookie was copied back into ``Set-Cookie`` as it came.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from console import routes, web
from console.sessions import MAX_FAILURES
from tests.console.conftest import ConsoleUnderTest
from tests.console.http_client import ConsoleClient

REPLY_WAIT_S = 5.0  # every answer below comes at once; this only bounds a failing test


def _address(app: ConsoleUnderTest) -> tuple[str, int]:
    host, _, port = app.url.removeprefix("http://").partition(":")
    return host, int(port)


def _raw(address: tuple[str, int], request: bytes, wait_s: float = REPLY_WAIT_S) -> bytes:
    """Send raw bytes, return what the server answers before it closes (or the wait ends)."""
    with socket.create_connection(address, timeout=wait_s) as conn:
        conn.sendall(request)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except TimeoutError:
            pass  # the assertion on the answer says what was missing
    return answer


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b" -5"])
def test_a_post_of_bad_length_is_refused_at_once(console_app: ConsoleUnderTest,
                                                 length: bytes) -> None:
    started = time.monotonic()
    answer = _raw(_address(console_app),
                  b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: " + length +
                  b"\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nname=a")
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert time.monotonic() - started < REPLY_WAIT_S


@contextmanager
def _served(app: ConsoleUnderTest, limit: int) -> Iterator[tuple[str, int]]:
    server = web.serve("127.0.0.1", 0, app.console.dispatch, limit=limit)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_an_idle_connection_is_closed_after_the_socket_timeout(
        console_app: ConsoleUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "SOCKET_TIMEOUT_S", 0.5)  # read when the handler class is made
    with _served(console_app, limit=4) as address:
        started = time.monotonic()
        with socket.create_connection(address, timeout=REPLY_WAIT_S) as idle:
            idle.sendall(b"GET /login HTTP/1.1\r\n")  # a request that never ends
            assert idle.recv(1024) == b""  # closed by the server, not by our wait
        assert time.monotonic() - started < REPLY_WAIT_S


def test_connections_past_the_cap_get_503_not_a_thread(console_app: ConsoleUnderTest) -> None:
    with _served(console_app, limit=2) as address:
        holders = [socket.create_connection(address, timeout=REPLY_WAIT_S) for _ in range(2)]
        try:
            for held in holders:
                held.sendall(b"GET /login HTTP/1.1\r\n")  # each holds a thread, unfinished
            time.sleep(0.3)  # let the server hand both to their threads
            answer = _raw(address, b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
        finally:
            for held in holders:
                held.close()
        time.sleep(0.3)  # the held threads end on the close
        served = _raw(address, b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert served.startswith(b"HTTP/1.0 200") or served.startswith(b"HTTP/1.1 200")


def test_a_burst_of_parallel_logins_is_counted_before_it_is_hashed(
        console_app: ConsoleUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed = []
    real = routes.authenticate

    def slow_authenticate(*args: object) -> object:
        hashed.append(1)
        time.sleep(0.2)  # a slow hash: the burst's requests overlap
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(routes, "authenticate", slow_authenticate)
    clients = [ConsoleClient(console_app.url) for _ in range(4 * MAX_FAILURES)]
    forms = [(c, c.get("/login").hidden("login_csrf")) for c in clients]
    with ThreadPoolExecutor(len(forms)) as pool:
        statuses = list(pool.map(lambda cf: cf[0].post("/login", {
            "login_csrf": cf[1], "name": "ann", "credential": "wrong"}).status, forms))
    assert len(hashed) <= MAX_FAILURES, f"{len(hashed)} wrong credentials hashed"
    assert statuses.count(401) == len(hashed)
    assert set(statuses) <= {401, 429, 503}
    # A right login after the burst is refused too: the name's failures were all counted.
    assert ConsoleClient(console_app.url).login("ann", console_app.auditor).status == 429


def test_a_right_login_is_not_counted_as_a_failure(console_app: ConsoleUnderTest) -> None:
    for _ in range(MAX_FAILURES + 2):
        client = ConsoleClient(console_app.url)
        assert client.login("ann", console_app.auditor).status == 303


@pytest.mark.parametrize("cookie", [
    '"abc\\015\\012Set-Cookie: injected=1"',  # CR LF once SimpleCookie unquotes it
    "short",
    "a" * 31 + ";",
])
def test_a_login_cookie_we_did_not_make_is_replaced(console_app: ConsoleUnderTest,
                                                    cookie: str) -> None:
    answer = _raw(_address(console_app),
                  b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: "
                  b"vigil_console_login=" + cookie.encode() + b"\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert "injected" not in head
    set_login = [line for line in head.split("\r\n")
                 if line.startswith("Set-Cookie: vigil_console_login=")]
    assert len(set_login) == 1
    nonce = set_login[0].split("=", 1)[1].split(";", 1)[0]
    assert routes.NONCE_PATTERN.fullmatch(nonce) and nonce not in cookie
