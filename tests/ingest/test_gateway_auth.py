"""Hello and authentication: protocol errors 1002, auth failures 1008, rate limit, TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from control.users.tokens import new_token
from schemas.events import ControlEvent, ControlKind, now_ms
from tests.certificates import self_signed
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, closed_with, open_session, running_gateway, welcomed
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def test_unknown_client_bad_token_and_not_enrolled_are_closed_1008(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings()
    token = add_client(settings, "alice")
    newbie_token = add_client(settings, "newbie", enrolled=False)

    async def scenario() -> list[tuple[int | None, str]]:
        async with running_gateway(settings) as gw:
            results = []
            for client, tok in [("nobody", token), ("alice", new_token()),
                                ("newbie", newbie_token)]:
                ws = await open_session(gw.url, client, tok)
                code, reason, _ = await closed_with(ws)
                results.append((code, reason))
            ws = await welcomed(gw.url, "alice", token)  # the right token still works
            await ws.close()
            return results

    # One reason for an unknown id and a bad token: a stranger learns nothing of which ids exist.
    assert asyncio.run(scenario()) == [(1008, "unknown client or bad token"),
                                       (1008, "unknown client or bad token"),
                                       (1008, "client is not enrolled")]


def test_repeated_failures_from_one_address_are_refused(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(auth_failure_limit=3, auth_failure_window_s=30)
    token = add_client(settings, "alice")

    async def scenario() -> list[str]:
        async with running_gateway(settings) as gw:
            reasons = []
            for _ in range(3):
                _code, reason, _ = await closed_with(await open_session(gw.url, "alice", "x"))
                reasons.append(reason)
            # Now even the right token is refused until the window passes.
            code, reason, _ = await closed_with(await open_session(gw.url, "alice", token))
            assert code == 1008
            reasons.append(reason)
            return reasons

    assert asyncio.run(scenario()) == ["unknown client or bad token"] * 3 + ["too many failures"]


def test_no_hello_in_time_and_malformed_hello_are_closed_1002(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(hello_timeout_s=0.5)

    async def scenario() -> list[tuple[int | None, str]]:
        async with running_gateway(settings) as gw:
            silent = await connect(gw.url)
            results = [(await closed_with(silent))[:2]]
            for bad in ['{"type": "hello", "protocol": 2, "client_id": "a", "token": "t"}',
                        "not json", '{"type": "frame", "seq": 1, "captured_at": 1}']:
                ws = await connect(gw.url)
                await ws.send(bad)
                results.append((await closed_with(ws))[:2])
            return results

    results = asyncio.run(scenario())
    assert [code for code, _ in results] == [1002] * 4
    assert results[0][1] == "no hello within 0.5 s"
    assert "unsupported protocol" in results[1][1]


def test_tls_gateway_serves_wss(make_gateway_settings: SettingsFactory, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = make_gateway_settings(tls_cert=cert, tls_key=key)
    token = add_client(settings, "alice")
    trust = ssl.create_default_context(cafile=str(cert))

    async def scenario() -> str:
        async with running_gateway(settings) as gw:
            assert gw.url.startswith("wss://")
            ws = await welcomed(gw.url, "alice", token, ssl=trust)
            await ws.close()
            with pytest.raises(ssl.SSLError):  # a client that does not trust the cert
                await connect(gw.url, ssl=ssl.create_default_context())
            return gw.url

    asyncio.run(scenario())


def test_a_new_token_ends_the_sessions_of_the_old_one(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    """`vigil token issue` (TOKEN_ISSUED) closes a session opened with the previous token — a
    stolen token's session must not outlive its replacement — and keeps one opened with the
    new token when the next token event arrives for another reason."""
    from control.clients import ClientControl
    from control.users.repository import open_repository
    from ingest.gateway import TOKEN_REPLACED

    settings = make_gateway_settings()
    old_token = add_client(settings, "alice")
    repo = open_repository(settings)
    control = ClientControl(settings, repo)

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            stolen = await welcomed(gw.url, "alice", old_token)
            new_token_ = await asyncio.to_thread(control.issue_token, "alice")
            assert (await closed_with(stolen))[:2] == (1008, TOKEN_REPLACED)
            refused = await open_session(gw.url, "alice", old_token)
            assert (await closed_with(refused))[:2] == (1008, "unknown client or bad token")
            current = await welcomed(gw.url, "alice", new_token_)
            # The same token event again (a replayed control record): the session's token is
            # still the current one, so it stays open.
            gw.on_control(ControlEvent(event_id="replayed-1", client_id="alice",
                                       kind=ControlKind.TOKEN_ISSUED, at=now_ms()))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(current.recv(), 1.5)
            await current.close()

    try:
        asyncio.run(scenario())
    finally:
        control.close()
        repo.close()


def test_a_session_closes_at_its_maximum_lifetime(make_gateway_settings: SettingsFactory) -> None:
    from ingest.upkeep import SESSION_EXPIRED

    settings = make_gateway_settings(max_session_s=1.0)
    token = add_client(settings, "alice")

    async def scenario() -> tuple[int | None, str]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            code, reason, _ = await closed_with(ws, timeout_s=10)
            return code, reason

    assert asyncio.run(scenario()) == (1008, SESSION_EXPIRED)
