"""Gateways open the user database without the data key (issue 20 item 5): they need token
hashes and client states; a process without the key cannot read or write faces."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from control.users.crypto import CryptoError, key_file
from control.users.repository import open_repository
from control.users.tokens import hash_token
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, running_gateway, welcomed
from vigil.core.settings import load_settings


def test_without_the_key_tokens_and_states_read_and_faces_refuse(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    keyed = open_repository(settings)  # makes the key file, enrolls
    keyed.ensure_client("alice", "Alice")
    vector = np.random.default_rng(1).normal(size=(1, 512)).astype(np.float32)
    keyed.set_embeddings("alice", vector / np.linalg.norm(vector))
    keyed.set_token_hash("alice", hash_token("token-1"))
    keyed.close()

    key_file(settings).unlink()  # as on a gateway's host: no key there at all
    keyless = open_repository(settings, with_key=False)
    try:
        record = keyless.get("alice")
        assert record is not None and record.token_hash == hash_token("token-1")
        assert record.enrolled
        with pytest.raises(CryptoError, match="without the data key"):
            keyless.embeddings("alice")
    finally:
        keyless.close()
    assert not key_file(settings).exists()  # nothing made one


@pytest.mark.integration
def test_a_gateway_admits_clients_with_no_data_key_on_its_host(
        make_gateway_settings: SettingsFactory) -> None:
    settings = make_gateway_settings(secret_key=None)
    token = add_client(settings, "alice")  # the enrolling host made the key file
    key_file(settings).unlink()

    async def scenario() -> None:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            await ws.close()

    asyncio.run(scenario())
    assert not key_file(settings).exists()  # the gateway neither needed nor made one
