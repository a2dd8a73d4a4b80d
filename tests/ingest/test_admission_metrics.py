"""The gateway's tick exports capacity, sessions in use and the queue (the dashboard's panel)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, expect, open_session, running_gateway, welcomed

pytestmark = pytest.mark.integration


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


def test_tick_exports_capacity_sessions_in_use_and_queue(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(max_pipelines=1, max_clients_per_pipeline=1, queue_limit=2)
    tokens = {c: add_client(settings, c) for c in ("a", "b")}

    async def scenario() -> tuple[float | None, ...]:
        async with running_gateway(settings) as gateway:
            a = await welcomed(gateway.url, "a", tokens["a"])
            b = await open_session(gateway.url, "b", tokens["b"])
            await expect(b, "queued")
            await gateway.tick()
            seen = (gauge("vigil_capacity_sessions"), gauge("vigil_sessions_in_use"),
                    gauge("vigil_queue_waiting"))
            await a.close()
            await expect(b, "welcome", timeout_s=3)
            await gateway.tick()
            seen += (gauge("vigil_sessions_in_use"), gauge("vigil_queue_waiting"))
            await b.close()
            return seen

    assert asyncio.run(scenario()) == (1.0, 1.0, 1.0, 1.0, 0.0)
