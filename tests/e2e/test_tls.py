"""The whole flow over wss://: a gateway with a certificate the test makes joins `vigil up`."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from websockets.asyncio.client import connect

from tests.conftest import require_testdata
from tests.stack import Running, TlsGateway

pytestmark = pytest.mark.integration


def test_hello_to_decision_over_wss(running: Running, tls_gateway: TlsGateway) -> None:
    testdata = require_testdata()
    # The reference client trusts the self-signed certificate it is given, and nothing else.
    result = running.vigil(
        "client", "--client-id", "alice", f"--token={running.tokens['alice']}", "--url",
        tls_gateway.url, "--cafile", str(tls_gateway.cert), "--fps", "4",
        *[str(testdata / "faces/obama_3.jpg")] * 3)
    assert "3 frames, 3 decisions" in result.stdout, result.stdout

    async def untrusted() -> None:
        await connect(tls_gateway.url, ssl=ssl.create_default_context(), open_timeout=10)

    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(untrusted())
