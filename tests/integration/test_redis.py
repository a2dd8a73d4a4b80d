"""Redis round trip against the real server of the session."""

from __future__ import annotations

import pytest
import redis

from tests.conftest import Infra

pytestmark = pytest.mark.integration


def test_redis_round_trip_with_ttl(infra: Infra, namespace: str) -> None:
    client = redis.Redis.from_url(infra.redis_url)
    key = f"{namespace}:probe"
    client.set(key, b"\x00vigil\xff", ex=30)
    assert client.get(key) == b"\x00vigil\xff"
    assert 0 < client.ttl(key) <= 30
    client.hset(f"{namespace}:hash", mapping={"a": "1", "b": "2"})
    assert client.hgetall(f"{namespace}:hash") == {b"a": b"1", b"b": b"2"}
    client.delete(key, f"{namespace}:hash")
    assert client.get(key) is None
