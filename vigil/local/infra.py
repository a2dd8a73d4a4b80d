"""A real local Apache Kafka broker (single-node KRaft) and Redis server on 127.0.0.1.

`vigil infra up` formats the broker's storage once, starts both servers as detached processes
with their data, logs and pid files under the state folder, and waits until each answers.
`down` stops only the processes whose pid files it wrote (and only if the process still is the
one it started). Kafka's data stays on disk between `down` and `up`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
KAFKA_LOG4J = REPO_ROOT / "infra" / "kafka" / "log4j2.properties"
SETUP_HINT = "run scripts/setup.sh"


class InfraError(VigilError, RuntimeError):
    """A local server could not be started, stopped or reached; the message says what to do."""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    pid: int | None
    running: bool
    answering: bool
    log_file: Path

    @property
    def healthy(self) -> bool:
        return self.answering

    def line(self) -> str:
        state = "healthy" if self.answering else ("starting" if self.running else "down")
        who = f"pid {self.pid}" if self.running else "not started by vigil"
        return f"{self.name:<6} {self.address:<22} {state:<9} {who}  log: {self.log_file}"


def cache_dir() -> Path:
    return Path(os.environ.get("VIGIL_CACHE", Path.home() / ".cache" / "vigil"))


def kafka_home() -> Path:
    """The folder with the broker jars fetched by scripts/setup.sh (same naming rule)."""
    pom = KAFKA_POM.read_bytes()
    match = re.search(rb"<kafka.version>(.+?)</kafka.version>", pom)
    if match is None:
        raise InfraError(f"no <kafka.version> in {KAFKA_POM}")
    digest = hashlib.sha256(pom).hexdigest()[:8]
    return cache_dir() / f"kafka-{match.group(1).decode()}-{digest}"


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the OS says is free now (for tests that start their own servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """One detached server process tracked by a pid file under the state folder."""

    name = "server"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = (settings.state_dir / self.name).resolve()
        self.pid_file = self.root / f"{self.name}.pid"
        self.log_file = self.root / "logs" / f"{self.name}.out"

    # -- subclass hooks ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create folders and config files before the first start."""

    def ping(self) -> bool:
        return port_answers(self.port)

    # -- process management -----------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid this state folder started, if that process is still alive and ours."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
        # A recycled pid belongs to someone else: ours runs in our state folder (redis rewrites
        # its command line, so the working directory is the reliable mark).
        return pid if cwd == str(self.root) else None

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(
            self.name,
            f"127.0.0.1:{self.port}",
            pid,
            pid is not None,
            self.ping(),
            self.log_file,
        )

    def start(self) -> None:
        if self.pid() is not None:
            log.info("%s already running (pid %s)", self.name, self.pid())
            return
        if not port_free(self.port):
            raise InfraError(
                f"{self.name}: port {self.port} on 127.0.0.1 is already in use by another "
                f"process; stop it or choose another port in the settings"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the CLI; Ctrl-C in a shell doesn't reach it
                cwd=self.root,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        log.info("started %s pid %d on 127.0.0.1:%d", self.name, proc.pid, self.port)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ping():
                return
            if self.pid() is None:
                raise InfraError(
                    f"{self.name} exited during start-up (port {self.port}); "
                    f"read {self.log_file}"
                )
            time.sleep(0.3)
        raise InfraError(
            f"{self.name} did not answer on 127.0.0.1:{self.port} within {timeout_s:.0f} s; "
            f"read {self.log_file}"
        )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop our process (SIGTERM, then SIGKILL after the timeout). False if none ran."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            log.warning("%s pid %d ignored SIGTERM for %.0f s; killing", self.name, pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


class LocalKafka(LocalServer):
    """Single-node KRaft broker+controller from the jars in the cache."""

    name = "kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _classpath(self) -> str:
        libs = kafka_home() / "libs"
        if not (kafka_home() / ".vigil-ready").exists():
            raise InfraError(f"the Kafka broker jars are not in {libs}: {SETUP_HINT}")
        return f"{libs}/*"

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise InfraError("java is not installed: Kafka 4 needs Java 17 (apt-get install "
                             "openjdk-17-jre-headless)")
        return java

    def _properties(self) -> str:
        cport = self.settings.kafka_controller_port
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{cport}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{cport}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            # One node: internal topics cannot have more than one replica.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # Tests and local runs join groups often; don't wait 3 s for more members.
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ])

    def prepare(self) -> None:
        (self.root / "server.properties").write_text(self._properties())
        if not (self.data_dir / "meta.properties").exists():
            self.format_storage(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))

    def format_storage(self, cluster_id: str) -> None:
        """Format the KRaft storage once (a no-op when it is formatted already)."""
        result = subprocess.run(
            # "--cluster-id=ID", not "-t ID": a URL-safe base64 id may start with "-".
            [self._java(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
             f"--cluster-id={cluster_id}", "-c", str(self.root / "server.properties"),
             "--ignore-formatted"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage failed: {result.stderr.strip()[-800:]}")

    def command(self) -> list[str]:
        return [
            self._java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp", self._classpath(), "kafka.Kafka", str(self.root / "server.properties"),
        ]

    def ping(self) -> bool:
        if not port_answers(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{self.port}"})
        try:
            admin.list_topics(timeout=2)
        except Exception:  # KafkaException while the broker finishes starting
            return False
        return True


class LocalRedis(LocalServer):
    """redis-server with append-only persistence under the state folder."""

    name = "redis"

    @property
    def port(self) -> int:
        return self.settings.redis_port

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise InfraError(f"redis-server is not installed: {SETUP_HINT}")
        return [
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.root), "--appendonly", "yes", "--save", "",
            "--daemonize", "no", "--protected-mode", "yes",
        ]

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.settings.redis_url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


def local_servers(settings: Settings) -> list[LocalServer]:
    return [LocalKafka(settings), LocalRedis(settings)]


def infra_up(settings: Settings) -> list[ServerStatus]:
    """Start whatever is not running, wait until both answer, return their status."""
    servers = local_servers(settings)
    for server in servers:
        if server.pid() is None and server.ping():
            log.info("%s already answers on port %d (not ours); using it", server.name, server.port)
            continue
        server.start()
    for server in servers:
        server.wait_ready(settings.startup_timeout_s)
    return [server.status() for server in servers]


def infra_down(settings: Settings) -> list[tuple[str, bool]]:
    """Stop the servers this state folder started; return (name, was_running)."""
    return [(server.name, server.stop()) for server in reversed(local_servers(settings))]


def infra_status(settings: Settings) -> list[ServerStatus]:
    return [server.status() for server in local_servers(settings)]
