"""A restarting face processor keeps its capacity: `vigil up` holds the dead process's
heartbeat for ``restart_capacity_grace_s`` (vigil/apps/capacity_hold.py), so admission does
not withdraw the sessions it carried while the replacement loads its models."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import redis

from control.cluster.heartbeat import Heartbeat, live_processes
from tests.private_redis import private_redis
from vigil.apps.capacity_hold import CapacityHold
from vigil.core.settings import load_settings

pytestmark = pytest.mark.integration

TTL_S = 1.0


def test_a_held_heartbeat_outlives_its_ttl_and_then_lapses(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as server:
        settings = load_settings(state_dir=tmp_path / "state", redis_url=server.url,
                                 namespace="hold", heartbeat_ttl_s=TTL_S,
                                 restart_capacity_grace_s=3.0)
        client = redis.Redis.from_url(server.url)
        dead = Heartbeat(settings, "face", share=4, client=client)
        dead.beat()  # then the process dies: no more beats
        other = Heartbeat(settings, "phone", client=client)
        other.beat()
        hold = CapacityHold(settings)
        try:
            assert hold.hold("face", os.getpid()) == [dead.process_id]
            assert hold.hold("face", os.getpid() + 1) == []  # another pid: nothing held
        finally:
            hold.close()
        time.sleep(TTL_S + 0.5)  # past the TTL: without the hold, the face entry is gone
        alive = {p.process_id: p for p in live_processes(client, "hold")}
        assert dead.process_id in alive and alive[dead.process_id].share == 4
        assert other.process_id not in alive  # only the restarting process is held
        assert alive[dead.process_id].host == socket.gethostname()
        time.sleep(3.0)  # past the grace: it lapses like any dead process
        assert dead.process_id not in {p.process_id for p in live_processes(client, "hold")}
        client.close()
