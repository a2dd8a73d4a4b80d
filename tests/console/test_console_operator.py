"""An operator blocks a client from the console: the database, Redis and the control topic
all learn it (real Redis and Kafka)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import redis

from console.accounts import add_account
from console.routes import Console
from console.web import serve
from control.cluster import redis_keys
from control.users.db import AuditorRole, ClientState
from control.users.repository import open_repository
from sinks.audit import audit_log_path
from tests.conftest import Infra, make_settings
from tests.console.http_client import ConsoleClient
from tests.sinks.conftest import TEST_KEY
from vigil.core.flow import CONTROL
from vigil.core.topic_window import read_window
from vigil.core.topics import create_topics

pytestmark = pytest.mark.integration


def test_operator_blocks_a_client(infra: Infra, namespace: str, tmp_path: Path,
                                  weights_dir: Path) -> None:
    settings = make_settings(infra, namespace, tmp_path / "state", weights_dir,
                             secret_key=TEST_KEY)
    create_topics(settings)
    repo = open_repository(settings)
    repo.ensure_client("carol")
    credential = add_account(repo, "otto", AuditorRole.OPERATOR)
    console = Console(settings, repo, audit_log_path(settings))
    server = serve("127.0.0.1", 0, console.dispatch)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        client = ConsoleClient(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.login("otto", credential).status == 303
        csrf = client.get("/operator").hidden("csrf")
        unknown = client.post("/operator/block", {"csrf": csrf, "client_id": "nobody"})
        assert unknown.status == 404 and "unknown client" in unknown.text
        done = client.post("/operator/block", {"csrf": csrf, "client_id": "carol",
                                               "reason": "lost laptop"})
        assert done.status == 200 and "carol: blocked" in done.text
    finally:
        server.shutdown()
        thread.join(10)
        console.close()
    record = repo.get("carol")
    repo.close()
    assert record is not None
    assert (record.state, record.state_reason, record.state_actor) == (
        ClientState.BLOCKED, "lost laptop", "console:otto")
    mirror = redis.Redis.from_url(settings.redis.url).hgetall(
        redis_keys.client_key(namespace, "carol"))
    assert mirror[b"state"] == b"blocked"
    events = [CONTROL.serializer.loads(m.value()) for m in read_window(settings,
                                                                        CONTROL.name(settings))]
    assert [(e.client_id, e.kind.value, e.actor) for e in events] == [
        ("carol", "blocked", "console:otto")]
