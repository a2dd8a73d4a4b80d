"""What every local server of `vigil infra` shares: a detached process, its pid file, ports.

A :class:`LocalServer` runs one process with its data, log and pid file under the state
folder. ``stop`` only ever signals the process its own pid file names, and only while that
process still runs in the server's folder (a recycled pid belongs to someone else).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import signal
import socket
import subprocess
import time
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
        return f"{self.name:<8} {self.address:<22} {state:<9} {who}  log: {self.log_file}"


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


def port_block(count: int) -> int:
    """The first of ``count`` free consecutive ports below the OS's ephemeral range.

    `vigil up` restarts a killed stage, which binds its port again. A port from the ephemeral
    range (where the OS picks the local port of every outgoing connection) may have been taken
    by a Kafka or Redis connection meanwhile, and stays taken while it lives: seen here as a
    face processor that could not restart ("Address already in use" on its metrics port).
    """
    chooser = random.Random()
    for _ in range(100):
        base = chooser.randrange(20_000, 32_000 - count)
        if all(_bindable(base + i) for i in range(count)):
            return base
    raise InfraError(f"no {count} free consecutive ports between 20000 and 32000")


def _bindable(port: int) -> bool:
    """Bindable now without SO_REUSEADDR (stricter than :func:`port_free`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalServer:
    """One detached server process tracked by a pid file under the state folder."""

    name = "server"

    def __init__(self, settings: Settings, root: Path | None = None) -> None:
        self.settings = settings
        self.root = (root or settings.deployment.state_dir / self.name).resolve()
        self.pid_file = self.root / f"{self.name}.pid"
        self.log_file = self.root / "logs" / f"{self.name}.out"

    # -- subclass hooks ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def host(self) -> str:
        """The address it listens on: the one its settings name (127.0.0.1 unless a network
        namespace of the multi-host layout gives the machine another)."""
        return "127.0.0.1"

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create folders and config files before the first start."""

    def ping(self) -> bool:
        return port_answers(self.port, self.host)

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
            f"{self.host}:{self.port}",
            pid,
            pid is not None,
            self.ping(),
            self.log_file,
        )

    def start(self) -> None:
        if self.pid() is not None:
            log.info("%s already running (pid %s)", self.name, self.pid())
            return
        if not port_free(self.port, self.host):
            raise InfraError(
                f"{self.name}: port {self.port} on {self.host} is already in use by another "
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
        log.info("started %s pid %d on %s:%d", self.name, proc.pid, self.host, self.port)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ping():
                return
            if self.pid() is None:
                raise InfraError(
                    f"{self.name} exited during start-up (port {self.port}); "
                    f"read {self.log_file}; its last lines:\n{self.log_tail()}"
                )
            time.sleep(0.3)
        raise InfraError(
            f"{self.name} did not answer on {self.host}:{self.port} within {timeout_s:.0f} s; "
            f"read {self.log_file}"
        )

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log (why it exited), or a note that there is none."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop our process (SIGTERM, then SIGKILL after the timeout). False if none ran."""
        return self.wait_stopped(timeout_s) if self.terminate() else False

    def terminate(self) -> bool:
        """Send SIGTERM to our process without waiting; False (pid file removed) if none ran."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        return True

    def wait_stopped(self, timeout_s: float = 30.0) -> bool:
        """Wait for our process to exit after terminate(), SIGKILL it after the timeout."""
        pid = self.pid()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if pid is not None and self.pid() is not None:
            log.warning("%s pid %d ignored SIGTERM for %.0f s; killing", self.name, pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True
