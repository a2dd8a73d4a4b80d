"""A Redis server of one test alone, on a free loopback port, that the test may SIGKILL.

It is the local Redis of `vigil infra` (vigil/local/infra.py) in the test's own folder, so
killing it touches no other test, and :meth:`PrivateRedis.restart_empty` brings it back on
the same port with no data, as after a crash without persistence.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vigil.core.settings import load_settings
from vigil.local.infra import LocalRedis
from vigil.local.servers import free_port

START_TIMEOUT_S = 20.0


class PrivateRedis:
    """One redis-server under ``root``; :attr:`url` stays the same across restarts."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.url = f"redis://127.0.0.1:{port or free_port()}/0"
        self.server = LocalRedis(load_settings(state_dir=root, redis_url=self.url))

    def start(self) -> None:
        self.server.start()
        self.server.wait_ready(START_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL, as a crash; returns once the process is gone."""
        pid = self.server.pid()
        assert pid is not None, "the private Redis is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.server.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.pid() is None, f"redis pid {pid} survived SIGKILL"

    def restart_empty(self) -> None:
        """Start again on the same port with no data (its append-only files removed)."""
        for path in self.server.root.glob("appendonly*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.start()

    def stop(self) -> None:
        self.server.stop(timeout_s=10)


@contextmanager
def private_redis(root: Path, started: bool = True) -> Iterator[PrivateRedis]:
    """A private Redis (running unless ``started`` is False), stopped at the end."""
    server = PrivateRedis(root)
    if started:
        server.start()
    try:
        yield server
    finally:
        server.stop()
