"""A gateway behind the real nginx of docker-compose.yml (TLS, tests/nginx.py), with nginx's
address in ``trusted_proxies``: clients are told apart by the address nginx forwards.

Before, every client shared nginx's address: five bad hellos from anyone refused every client
("too many failures"), and the connections one client could hold were everybody's. Clients
here connect from different loopback addresses (127.0.0.2, .3, .4) so nginx sees them apart.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, closed_with, open_session, running_gateway, welcomed
from tests.nginx import Nginx, nginx

pytestmark = pytest.mark.integration

FAILURE_LIMIT = 3


def _from(proxy: Nginx, address: str) -> dict[str, object]:
    """open_session keywords: TLS trusting the test certificate, from a loopback address."""
    return {"ssl": ssl.create_default_context(cafile=str(proxy.cert)),
            "local_addr": (address, 0)}


def test_hello_failures_and_connections_are_counted_per_forwarded_client(
        make_gateway_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_gateway_settings(trusted_proxies=("127.0.0.1",),
                                     auth_failure_limit=FAILURE_LIMIT,
                                     max_connections_per_address=2, hello_timeout_s=10.0)
    token = add_client(settings, "alice")
    add_client(settings, "bob")

    async def scenario(proxy: Nginx) -> None:
        url = proxy.stream_url
        for _ in range(FAILURE_LIMIT):  # a stranger at 127.0.0.2 guesses alice's token
            ws = await open_session(url, "alice", "wrong", **_from(proxy, "127.0.0.2"))
            assert (await closed_with(ws))[:2] == (1008, "unknown client or bad token")
        ws = await open_session(url, "alice", token, **_from(proxy, "127.0.0.2"))
        assert (await closed_with(ws))[:2] == (1008, "too many failures")
        # The stranger's failures refuse neither alice elsewhere nor another client of theirs,
        # and a forged X-Forwarded-For does not put anyone else in the stranger's place.
        alice = await welcomed(url, "alice", token, **_from(proxy, "127.0.0.3"))
        forged = await welcomed(url, "alice", token, **_from(proxy, "127.0.0.4"),
                                additional_headers={"X-Forwarded-For": "127.0.0.2"})
        await forged.close()
        await alice.close()
        # Connections per client address: 127.0.0.3 holds two, a third is refused; another
        # client address still gets in.
        # (Connections that have not said hello yet: each is held until hello_timeout_s.)
        held: list[ClientConnection] = [
            await connect(url, **_from(proxy, "127.0.0.3")) for _ in range(2)]  # type: ignore[arg-type]
        with pytest.raises(InvalidStatus, match="429"):
            await connect(url, **_from(proxy, "127.0.0.3"))  # type: ignore[arg-type]
        other = await welcomed(url, "alice", token, **_from(proxy, "127.0.0.5"))
        for ws in [*held, other]:
            await ws.close()

    async def main() -> None:
        async with running_gateway(settings) as gw:
            gateway = gw.url.removeprefix("ws://").split("/")[0]
            with nginx(tmp_path / "nginx", [gateway]) as proxy:
                await scenario(proxy)

    asyncio.run(main())


def _plain_then_tls(proxy: Nginx) -> tuple[int, str, int]:
    plain = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
    plain.request("GET", "/v1/stream")
    redirect = plain.getresponse()
    tls = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=10,
                                      context=ssl.create_default_context(cafile=str(proxy.cert)))
    tls.request("GET", "/healthz")
    return redirect.status, redirect.getheader("Location", ""), tls.getresponse().status


def test_plain_http_only_redirects_to_tls(make_gateway_settings: SettingsFactory,
                                          tmp_path: Path) -> None:
    settings = make_gateway_settings(trusted_proxies=("127.0.0.1",))

    async def main() -> tuple[int, str, int]:
        async with running_gateway(settings) as gw:
            gateway = gw.url.removeprefix("ws://").split("/")[0]
            with nginx(tmp_path / "nginx", [gateway]) as proxy:
                # Blocking clients on a thread: the gateway serves on this event loop.
                return await asyncio.to_thread(_plain_then_tls, proxy)

    status, location, healthz = asyncio.run(main())
    assert status == 308 and location.startswith("https://127.0.0.1:")
    assert location.endswith("/v1/stream") and healthz == 200
