"""The gateway's background loops survive the failures that once ended them for good while
``/healthz`` still said 200: a database error in the outbox drainer and in the upkeep tick, a
client id with a space in the clients file. Each failure is injected into a running gateway."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from control.events.outbox import OutboxDrainer
from ingest.upkeep import SessionUpkeep
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, expect, running_gateway, welcomed
from vigil.core import metrics

pytestmark = pytest.mark.integration


def _errors(task: str) -> float:
    return metrics.BACKGROUND_ERRORS.labels(task)._value.get()


async def _until(condition: object, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def test_outbox_and_tick_survive_database_errors(make_gateway_settings: SettingsFactory,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_gateway_settings(outbox_poll_s=0.05)
    rounds = {"outbox": 0, "tick": 0}
    drain, tick = OutboxDrainer.drain, SessionUpkeep.tick

    def failing_drain(self: OutboxDrainer) -> int:
        rounds["outbox"] += 1
        if rounds["outbox"] <= 2:
            raise sqlite3.OperationalError("database is locked")  # the drainer's old killer
        return drain(self)

    async def failing_tick(self: SessionUpkeep, admitted: list) -> bool:  # type: ignore[type-arg]
        rounds["tick"] += 1
        if rounds["tick"] == 2:  # after the first, which runs before the gateway serves
            raise RuntimeError("user database unreachable during the Redis rebuild")
        return await tick(self, admitted)

    monkeypatch.setattr(OutboxDrainer, "drain", failing_drain)
    monkeypatch.setattr(SessionUpkeep, "tick", failing_tick)
    before = {task: _errors(task) for task in rounds}

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            await _until(lambda: rounds["outbox"] >= 4 and rounds["tick"] >= 4, 20.0)
            assert gw.healthy()

    asyncio.run(scenario())
    assert _errors("outbox") == before["outbox"] + 2
    assert _errors("tick") == before["tick"] + 1


def test_a_bad_clients_file_is_refused_and_the_next_one_applied(
        make_gateway_settings: SettingsFactory, tmp_path: Path) -> None:
    clients_file = tmp_path / "clients.yaml"
    clients_file.write_text("blocked:\n  alice smith: stolen\n")  # not a client id
    settings = make_gateway_settings(clients_file=clients_file, clients_file_poll_s=0.1)
    token = add_client(settings, "alice")

    async def scenario() -> str:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await asyncio.sleep(0.5)  # a few polls of the bad file
            assert gw.healthy()
            clients_file.write_text("paused:\n  alice: night shift\n")
            state = (await expect(ws, "status", timeout_s=5))["state"]
            await ws.close()
            return str(state)

    assert asyncio.run(scenario()) == "paused"
