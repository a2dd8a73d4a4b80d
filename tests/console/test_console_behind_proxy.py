"""The console behind the real nginx of docker-compose.yml: TLS ends at nginx, so the console
learns the scheme and the client's address from nginx (``trusted_proxies``). Its cookies are
then Secure, a form POSTed from its https origin is accepted, and failed logins are counted
per client, not per nginx."""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from console.sessions import MAX_FAILURES
from console.web import serve
from tests.console.conftest import ConsoleUnderTest
from tests.nginx import Nginx, nginx
from vigil.core.forwarded import TrustedProxies


@contextmanager
def _behind_nginx(app: ConsoleUnderTest, tmp_path: Path) -> Iterator[Nginx]:
    server = serve("127.0.0.1", 0, app.console.dispatch,
                   proxies=TrustedProxies.of(["127.0.0.1"]))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with nginx(tmp_path / "nginx", ["127.0.0.1:9"],
                   console=f"127.0.0.1:{server.server_address[1]}") as proxy:
            yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _request(proxy: Nginx, method: str, path: str, source: str, cookie: str = "",
             form: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", proxy.console_port, timeout=10, source_address=(source, 0),
        context=ssl.create_default_context(cafile=str(proxy.cert)))
    headers = {"Cookie": cookie, "Origin": f"https://127.0.0.1:{proxy.console_port}"}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def _login(proxy: Nginx, source: str, name: str, credential: str) -> http.client.HTTPResponse:
    form_page = _request(proxy, "GET", "/login", source)
    nonce_cookie = form_page.getheader("Set-Cookie", "").split(";", 1)[0]
    nonce = nonce_cookie.split("=", 1)[1]
    return _request(proxy, "POST", "/login", source, nonce_cookie,
                    {"login_csrf": nonce, "name": name, "credential": credential})


def test_secure_cookies_and_the_https_origin_through_nginx(console_app: ConsoleUnderTest,
                                                           tmp_path: Path) -> None:
    with _behind_nginx(console_app, tmp_path) as proxy:
        accepted = _login(proxy, "127.0.0.2", "ann", console_app.auditor)
        assert accepted.status == 303, accepted.status  # the https Origin was accepted
        cookies = accepted.headers.get_all("Set-Cookie") or []
        assert cookies and all("; Secure" in c for c in cookies), cookies


def test_failed_logins_are_counted_per_forwarded_client(console_app: ConsoleUnderTest,
                                                        tmp_path: Path) -> None:
    with _behind_nginx(console_app, tmp_path) as proxy:
        for _ in range(MAX_FAILURES):  # a stranger at 127.0.0.2, against another name
            assert _login(proxy, "127.0.0.2", "otto", "wrong").status == 401
        assert _login(proxy, "127.0.0.2", "otto", console_app.operator).status == 429
        # ann, from her own address, is not refused with the stranger.
        assert _login(proxy, "127.0.0.3", "ann", console_app.auditor).status == 303
