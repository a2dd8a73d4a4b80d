"""Debian's nginx in front of two `vigil ingest` processes, on loopback, with the real stack.

nginx runs from the same template as docker-compose.yml (tests/nginx.py: TLS with a test
certificate), with its own prefix, config and logs in a temporary folder. The two gateways join the
session's `vigil up` (same namespace, Kafka, Redis and user database), so the frames they take
are decided by its processors and the replies find their way back through nginx.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from control.cluster import redis_keys as keys
from control.users.repository import open_repository
from control.users.tokens import hash_token, new_token
from tests.ingest.harness import closed_with, expect, open_session
from tests.nginx import nginx, require_nginx
from tests.stack import GatewayProcess, Running, gateways
from vigil.apps.client import StreamReport, stream_frames
from vigil.core.flow_types import supervisor_metrics_port

pytestmark = pytest.mark.integration

def same_face_clients(running: Running, names: list[str]) -> dict[str, str]:
    """Clients enrolled with alice's embeddings (one person, several ids); their tokens."""
    settings = running.settings.replace(secret_key=SecretStr(running.env["VIGIL_SECRET_KEY"]))
    repo = open_repository(settings)
    try:
        face = repo.embeddings("alice")
        assert face is not None
        tokens = {}
        for name in names:
            repo.ensure_client(name)
            repo.set_embeddings(name, face)
            tokens[name] = new_token()
            repo.set_token_hash(name, hash_token(tokens[name]))
        return tokens
    finally:
        repo.close()


def decided(report: StreamReport, frames: int) -> bool:
    """Every frame got its decision back through nginx. Which action is test_stream's
    business: on a loaded machine a late half makes `incomplete`, still a decision."""
    return report.lost == [] and len(report.decisions) == frames and report.close_code == 1000


def outcomes(reports: list[StreamReport]) -> list[list[tuple[str, str]]]:
    return [[(d["action"], d["reason"]) for d in r.decisions.values()] for r in reports]


def test_nginx_spreads_sessions_and_moves_new_ones_off_a_killed_gateway(
        running: Running, tmp_path: Path) -> None:
    require_nginx()
    tokens = same_face_clients(running, ["lb-1", "lb-2", "lb-3", "lb-4"])
    frames = running.frames("faces/obama_3.jpg", "faces/obama_4.jpg")
    holders = redis.Redis.from_url(running.settings.redis.url)
    (tmp_path / "nginx").mkdir()

    def holder(client: str) -> str:
        value = holders.hget(keys.session_key(running.settings.deployment.namespace, client),
                             keys.SESSION_GATEWAY_FIELD)
        return value.decode() if isinstance(value, bytes) else str(value)

    with gateways(running, tmp_path) as pair, \
            nginx(tmp_path / "nginx", [g.address for g in pair]) as proxy:
        url = proxy.stream_url
        trust = ssl.create_default_context(cafile=str(proxy.cert))

        async def stream(*clients: str) -> list[StreamReport]:
            return list(await asyncio.gather(*(
                stream_frames(url, c, tokens[c], frames, fps=2, reply_timeout_s=60,
                              ssl_context=trust)
                for c in clients)))

        # Two clients at once: one session on each gateway, every frame decided through nginx.
        reports = asyncio.run(stream("lb-1", "lb-2"))
        assert all(decided(r, len(frames)) for r in reports), outcomes(reports)
        assert [g.admitted("lb-1") + g.admitted("lb-2") for g in pair] == [1, 1]

        async def session_on_a_gateway_that_dies() -> tuple[GatewayProcess, int | None]:
            ws = await open_session(url, "lb-3", tokens["lb-3"], ssl=trust)
            await expect(ws, "welcome")
            victim = next(g for g in pair if g.gateway_id == holder("lb-3"))
            victim.proc.kill()
            victim.proc.wait(10)
            code, _reason, _messages = await closed_with(ws, timeout_s=15)
            return victim, code

        victim, code = asyncio.run(session_on_a_gateway_that_dies())
        survivor = next(g for g in pair if g is not victim)
        assert code != 1000  # the session ended with its gateway, not cleanly
        before = survivor.admitted("lb-3") + survivor.admitted("lb-4")
        # New sessions, one after another so nginx chooses each time: all on the survivor.
        for client in ("lb-3", "lb-4", "lb-3", "lb-4"):
            (report,) = asyncio.run(stream(client))
            assert decided(report, len(frames)), outcomes([report])
        assert survivor.admitted("lb-3") + survivor.admitted("lb-4") == before + 4
    errors = (tmp_path / "nginx" / "error.log").read_text()
    assert "connect() failed" in errors and victim.address in errors  # nginx saw it go


def test_vigil_up_exports_its_processes_per_stage(running: Running) -> None:
    port = supervisor_metrics_port(
        running.settings.replace(metrics_port_base=int(running.env["VIGIL_METRICS_PORT_BASE"]))
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    for stage in ("gateway", "face", "phone", "decide", "evidence", "audit", "replies"):
        assert f'vigil_stage_processes{{stage="{stage}"}} 1.0' in text, stage
