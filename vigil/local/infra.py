"""`vigil infra`: a real local Apache Kafka (one KRaft node or three) and Redis on 127.0.0.1.

They listen on the addresses the settings name (kafka_bootstrap, redis_url): 127.0.0.1 by
default, or the address of a network namespace in the multi-host layout
(``vigil.local.hosts``), where `vigil infra up` runs inside that namespace.

`vigil infra up` formats each Kafka node's storage once, starts the servers as detached
processes with their data, logs and pid files under the state folder, and waits until each
answers. `down` stops only the processes whose pid files it wrote (and only if the process
still is the one it started). Kafka's data stays on disk between `down` and `up`. The Kafka
nodes themselves are in ``vigil.local.kafka_cluster``; the process handling they share with
Redis in ``vigil.local.servers``.
"""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_address
from urllib.parse import urlsplit

from vigil.core.settings import Settings
from vigil.local.kafka_cluster import kafka_nodes, layouts_on_disk
from vigil.local.servers import SETUP_HINT, InfraError, LocalServer, ServerStatus

log = logging.getLogger(__name__)


class LocalRedis(LocalServer):
    """redis-server with append-only persistence under the state folder."""

    name = "redis"

    @property
    def port(self) -> int:
        return self.settings.redis.port

    @property
    def host(self) -> str:
        return urlsplit(self.settings.redis.url).hostname or "127.0.0.1"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise InfraError(f"redis-server is not installed: {SETUP_HINT}")
        # Protected mode refuses every peer but loopback: off only where the settings name
        # another address of this machine (a host of the multi-host layout).
        loopback = self.host == "localhost" or ip_address(self.host).is_loopback
        return [
            binary, "--port", str(self.port), "--bind", self.host,
            "--dir", str(self.root), "--appendonly", "yes", "--save", "",
            "--daemonize", "no", "--protected-mode", "yes" if loopback else "no",
        ]

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.settings.redis.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


def local_servers(settings: Settings) -> list[LocalServer]:
    """The Kafka nodes of the configured cluster size, then Redis."""
    return [*kafka_nodes(settings), LocalRedis(settings)]


def _started_elsewhere(settings: Settings) -> list[LocalServer]:
    """Kafka nodes of another cluster size in this state folder that are still running."""
    size = settings.kafka.local_nodes
    others = [node for count in layouts_on_disk(settings.deployment.state_dir) if count != size
              for node in kafka_nodes(settings, count)]
    return [node for node in others if node.pid() is not None]


def infra_up(settings: Settings) -> list[ServerStatus]:
    """Start whatever is not running, wait until every server answers, return their status."""
    running = _started_elsewhere(settings)
    if running:
        names = ", ".join(f"{node.name} ({node.root})" for node in running)
        raise InfraError(f"a Kafka cluster of another size is running here: {names}; "
                         "run `vigil infra down` first")
    servers = local_servers(settings)
    to_start = []
    for server in servers:
        if server.pid() is None and server.ping():
            log.info("%s already answers on port %d (not ours); using it", server.name, server.port)
            continue
        to_start.append(server)
    # Formatting a node's storage is a JVM start of its own: the nodes format side by side.
    with ThreadPoolExecutor(max_workers=max(1, len(to_start))) as pool:
        list(pool.map(LocalServer.start, to_start))
    for server in servers:
        server.wait_ready(settings.deployment.startup_timeout_s)
    return [server.status() for server in servers]


def infra_down(settings: Settings) -> list[tuple[str, bool]]:
    """Stop the servers this state folder started; return (name, was_running).

    Every Kafka node is told to stop before any is waited for: a node that waited alone would
    see the others leave, lose the quorum and hang in its controlled shutdown.
    """
    servers = [*reversed(local_servers(settings)), *_started_elsewhere(settings)]
    signalled = [(server, server.terminate()) for server in servers]
    return [(server.name, server.wait_stopped() if sent else False)
            for server, sent in signalled]


def infra_status(settings: Settings) -> list[ServerStatus]:
    return [server.status() for server in [*local_servers(settings),
                                           *_started_elsewhere(settings)]]
