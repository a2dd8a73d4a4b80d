"""Admission across gateways sharing Redis: queue, system full, slots freed on every exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from prometheus_client import REGISTRY

from control.cluster import redis_keys as keys
from control.cluster.heartbeat import Heartbeat
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import (
    JPEG,
    add_client,
    closed_with,
    expect,
    open_session,
    running_gateway,
    welcomed,
)
from vigil.core.flow import FACE_STAGE
from vigil.core.settings import Settings
from vigil.local.servers import free_port, port_answers

pytestmark = pytest.mark.integration


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("vigil_frames_dropped_total",
                                      {"stage": "gateway", "reason": reason})
    return value or 0.0


def test_third_client_waits_and_fourth_beyond_the_queue_is_refused(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(max_pipelines=1, max_clients_per_pipeline=2, queue_limit=1)
    tokens = {c: add_client(settings, c) for c in ("a", "b", "c", "d")}

    async def scenario() -> None:
        async with running_gateway(settings, "gw-one") as one, \
                running_gateway(settings, "gw-two") as two:
            a = await welcomed(one.url, "a", tokens["a"])
            b = await welcomed(two.url, "b", tokens["b"])
            c = await open_session(one.url, "c", tokens["c"])
            assert await expect(c, "queued") == {"type": "queued", "position": 1}
            d = await open_session(two.url, "d", tokens["d"])
            assert (await closed_with(d))[:2] == (1013, "system full")
            await a.close()  # a slot frees on gateway one: c is admitted
            welcome = await expect(c, "welcome", timeout_s=3)
            assert welcome["max_fps"] == settings.gateway.max_fps
            holder = await one.redis.hgetall(keys.session_key(settings.deployment.namespace, "c"))
            assert holder == {b"gateway_id": b"gw-one",
                              b"session_id": welcome["session_id"].encode(),
                              b"admitted_at": holder[b"admitted_at"]}
            await b.close()
            await c.close()

    asyncio.run(scenario())


def test_capacity_follows_live_face_processors(make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(max_pipelines=2, max_clients_per_pipeline=1, queue_limit=0,
                                     heartbeat_ttl_s=1.0)
    tokens = {c: add_client(settings, c) for c in ("a", "b")}

    async def scenario() -> None:
        import threading

        stops = [threading.Event(), threading.Event()]
        for stop in stops:
            Heartbeat.start_for_stage(settings, FACE_STAGE, "cpu", stop)
        async with running_gateway(settings) as gw:
            a = await welcomed(gw.url, "a", tokens["a"])
            b = await welcomed(gw.url, "b", tokens["b"])
            stops[1].set()  # one face processor stops: capacity 2 -> 1
            code, reason, _ = await closed_with(b, timeout_s=3)
            assert (code, reason) == (1013, "capacity withdrawn")  # the newest session goes
            assert not a.close_code
            await a.close()
            stops[0].set()

    asyncio.run(scenario())


def test_block_closes_and_pause_resume_change_what_the_client_gets(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    from control.clients import ClientControl
    from control.users.db import ClientState
    from control.users.repository import open_repository

    settings = make_gateway_settings()
    token = add_client(settings, "alice")
    repo = open_repository(settings)
    control = ClientControl(settings, repo)

    async def change(state: ClientState, reason: str) -> None:
        await asyncio.to_thread(control.set_state, "alice", state, reason)

    async def scenario() -> float:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await change(ClientState.PAUSED, "maintenance")
            assert await expect(ws, "status") == {"type": "status", "state": "paused",
                                                  "reason": "maintenance"}
            before = dropped("paused")
            await ws.send(JPEG)  # not produced while paused: counted, no error message
            await ws.send(b"{}")
            assert (await expect(ws, "error"))["code"] == "bad_image"
            assert dropped("paused") == before + 1
            await change(ClientState.ACTIVE, "")
            assert (await expect(ws, "status"))["state"] == "resumed"
            started = time.monotonic()
            await change(ClientState.BLOCKED, "stolen laptop")
            code, reason, messages = await closed_with(ws, timeout_s=2)
            elapsed = time.monotonic() - started
            assert (code, reason) == (1008, "blocked: stolen laptop")
            assert messages == [{"type": "status", "state": "blocked",
                                 "reason": "stolen laptop"}]
            again = await open_session(gw.url, "alice", token)
            assert (await closed_with(again))[:2] == (1008, "blocked: stolen laptop")
            return elapsed

    try:
        assert asyncio.run(scenario()) < 2.0
    finally:
        control.close()
        repo.close()


def _gateway_env(settings: Settings, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        {
            "VIGIL_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
            "VIGIL_REDIS_URL": settings.redis.url,
            "VIGIL_NAMESPACE": settings.deployment.namespace,
            "VIGIL_STATE_DIR": str(settings.deployment.state_dir),
            "VIGIL_GATEWAY_PORT": str(port),
            "VIGIL_HEARTBEAT_TTL_S": str(settings.control.heartbeat_ttl_s),
            "VIGIL_MAX_PIPELINES": "1",
            "VIGIL_MAX_CLIENTS_PER_PIPELINE": "1",
            "VIGIL_ADMISSION_RULE": "sessions",
        }
    )
    return env


def test_killed_gateway_frees_its_slots_after_the_ttl(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(max_pipelines=1, max_clients_per_pipeline=1,
                                     heartbeat_ttl_s=1.5)
    tokens = {c: add_client(settings, c) for c in ("a", "b")}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vigil.apps.cli", "ingest", "--metrics-port=0"],
                            env=_gateway_env(settings, port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not port_answers(port) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)

        async def hold_slot() -> None:
            ws = await welcomed(f"ws://127.0.0.1:{port}/v1/stream", "a", tokens["a"])
            proc.send_signal(signal.SIGKILL)  # no clean release: only the TTL frees it
            await closed_with(ws, timeout_s=5)

        asyncio.run(hold_slot())
        proc.wait(10)
        client = redis.Redis.from_url(settings.redis.url)
        assert client.zcard(keys.slots_key(settings.deployment.namespace)) == 1  # still held

        async def admitted_after_ttl() -> float:
            async with running_gateway(settings) as gw:
                started = time.monotonic()
                ws = await open_session(gw.url, "b", tokens["b"])
                first = await expect(ws, "queued")
                assert first["position"] == 1
                await expect(ws, "welcome", timeout_s=5)
                await ws.close()
                return time.monotonic() - started

        assert asyncio.run(admitted_after_ttl()) < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
