"""Two gateways of two "machines" (own state folders) on one PostgreSQL user database."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest

from control.clients import ClientControl
from control.users.db import ClientState
from control.users.repository import open_repository
from tests.conftest import Infra, make_settings
from tests.ingest.conftest import FAST
from tests.ingest.harness import add_client, closed_with, expect, open_session, running_gateway
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def test_two_gateways_on_one_postgres_see_each_others_enrollments_and_blocks(
        infra: Infra, topics: Settings, postgres_db: str, tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()  # one deployment: one data key

    def machine(name: str) -> Settings:
        return make_settings(
            infra,
            topics.deployment.namespace,
            tmp_path / name,
            tmp_path / "weights",
            user_db=postgres_db,
            secret_key=key,
            **FAST,
        )

    a, b = machine("machine-a"), machine("machine-b")
    alice = add_client(a, "alice")  # enrolled on machine A
    bob = add_client(b, "bob")  # enrolled on machine B
    assert not (a.deployment.state_dir / "users.sqlite3").exists()

    async def scenario() -> list[tuple[int | None, str]]:
        async with running_gateway(a) as gw_a, running_gateway(b) as gw_b:
            on_b = await open_session(gw_b.url, "alice", alice)
            await expect(on_b, "welcome")  # B knows A's enrollment
            on_a = await open_session(gw_a.url, "bob", bob)
            await expect(on_a, "welcome")  # and A knows B's
            await on_b.close()
            # A block written on machine A's database connection alone (no Redis, no
            # Kafka): B reads it at the next hello.
            repo = open_repository(a)
            await asyncio.to_thread(repo.set_state, "alice", ClientState.BLOCKED,
                                    "lost laptop", "cli")
            repo.close()
            refused = await closed_with(await open_session(gw_b.url, "alice", alice))
            # A block made through machine B's control plane ends bob's session on A at once.
            repo_b = open_repository(b)
            control = ClientControl(b, repo_b)
            await asyncio.to_thread(control.set_state, "bob", ClientState.BLOCKED, "left")
            control.close()
            repo_b.close()
            ended = await closed_with(on_a)
            again = await closed_with(await open_session(gw_a.url, "bob", bob))
            return [refused[:2], ended[:2], again[:2]]

    assert asyncio.run(scenario()) == [(1008, "blocked: lost laptop"), (1008, "blocked: left"),
                                       (1008, "blocked: left")]
