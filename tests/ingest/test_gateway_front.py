"""The gateway's HTTP front: the browser client's page, Origin checks, connections per address."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ingest.http_front import PAGE_FILES
from tests.certificates import self_signed
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, running_gateway, welcomed

pytestmark = pytest.mark.integration


def http_get(url: str, method: str = "GET", context: ssl.SSLContext | None = None
             ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def refused_status(error: BaseException) -> int:
    assert isinstance(error, InvalidStatus), error
    return error.response.status_code


def test_the_page_and_its_files_are_served_on_the_stream_port(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings()

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            base = gw.page_url.rstrip("/")
            status, headers, body = await asyncio.to_thread(http_get, gw.page_url)
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert b'<script type="module" src="/client.js">' in body
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            for path, (_name, content_type) in PAGE_FILES.items():
                status, headers, body = await asyncio.to_thread(http_get, base + path)
                assert (status, headers["Content-Type"]) == (200, content_type), path
                assert body, path
            status, headers, body = await asyncio.to_thread(http_get, gw.page_url, "HEAD")
            assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100
            status, _, body = await asyncio.to_thread(http_get, base + "/healthz")
            assert (status, body) == (200, b"ok\n")
            for missing in ("/index.htm", "/../pyproject.toml", "/web/client.js"):
                assert (await asyncio.to_thread(http_get, base + missing))[0] == 404, missing
            assert (await asyncio.to_thread(http_get, gw.page_url, "DELETE"))[0] == 405

    asyncio.run(scenario())


def test_only_allowed_origins_may_open_a_session(make_gateway_settings: SettingsFactory
                                                 ) -> None:
    settings = make_gateway_settings(allowed_origins=("https://console.example.org",))
    token = add_client(settings, "alice")

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            own = gw.page_url.rstrip("/")  # the page's origin: http://127.0.0.1:PORT
            for origin in (own, "https://console.example.org", None):
                ws = await welcomed(gw.url, "alice", token, origin=origin)
                await ws.close()
            for origin in ("http://evil.example", "https://127.0.0.1:1", "null",
                           own.replace("http:", "https:")):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(gw.url, origin=origin, open_timeout=5)
                assert refused_status(refused.value) == 403, origin
                assert b"allowed_origins" in refused.value.response.body

    asyncio.run(scenario())


def test_connections_per_address_are_limited_and_freed(make_gateway_settings: SettingsFactory
                                                       ) -> None:
    settings = make_gateway_settings(max_connections_per_address=2)
    tokens = {client: add_client(settings, client) for client in ("alice", "bob", "carol")}

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            alice = await welcomed(gw.url, "alice", tokens["alice"])
            # A handshake that fails after the check (no Upgrade header) holds no place.
            status, _, _ = await asyncio.to_thread(http_get, gw.url.replace("ws:", "http:"))
            assert status == 426
            bob = await welcomed(gw.url, "bob", tokens["bob"])
            with pytest.raises(InvalidStatus) as refused:
                await connect(gw.url, open_timeout=5)
            assert refused_status(refused.value) == 429
            assert b"max_connections_per_address" in refused.value.response.body
            await alice.close()
            async with asyncio.timeout(5):
                while gw.front.open_by_address.get("127.0.0.1") != 1:
                    await asyncio.sleep(0.05)
            carol = await welcomed(gw.url, "carol", tokens["carol"])
            await carol.close()
            await bob.close()
            async with asyncio.timeout(5):
                while gw.front.open_by_address:
                    await asyncio.sleep(0.05)

    asyncio.run(scenario())


def test_page_over_https_and_its_origin_opens_wss(make_gateway_settings: SettingsFactory,
                                                  tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = make_gateway_settings(tls_cert=cert, tls_key=key)
    token = add_client(settings, "alice")
    trust = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            assert gw.page_url.startswith("https://")
            status, _, body = await asyncio.to_thread(http_get, gw.page_url, "GET", trust)
            assert status == 200 and b"client.js" in body
            ws = await welcomed(gw.url, "alice", token, ssl=trust,
                                origin=gw.page_url.rstrip("/"))
            await ws.close()
            with pytest.raises(InvalidStatus) as refused:  # the http:// twin is another origin
                await connect(gw.url, ssl=trust, origin=gw.page_url.rstrip("/").replace(
                    "https:", "http:"), open_timeout=5)
            assert refused_status(refused.value) == 403

    asyncio.run(scenario())
