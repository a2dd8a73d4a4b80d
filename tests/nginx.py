"""Debian's nginx on loopback, rendered from the compose template (infra/nginx/), for the
tests that put Vigil behind it: its own prefix, config, logs and a test certificate."""

from __future__ import annotations

import signal
import string
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.certificates import self_signed
from vigil.local.servers import free_port, port_answers

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "infra" / "nginx" / "vigil.conf.template"
NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT_S = 120.0
MAIN_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/vigil.conf;
}}
"""


@dataclass(frozen=True)
class Nginx:
    """Where the running nginx answers: TLS for the gateways and the console, plain HTTP."""

    port: int  # wss:// and https:// to the gateways
    console_port: int
    http_port: int  # redirects only
    cert: Path  # the self-signed certificate clients must trust

    @property
    def stream_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/v1/stream"


def require_nginx() -> None:
    if not NGINX.is_file():
        pytest.skip(f"{NGINX} is absent: scripts/setup.sh installs Debian's nginx")


@contextmanager
def nginx(prefix: Path, gateways: list[str], console: str | None = None) -> Iterator[Nginx]:
    """nginx in front of one or two gateways (``host:port``) and, optionally, a console."""
    require_nginx()
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(prefix / "tls")
    port, console_port, http_port = free_port(), free_port(), free_port()
    values = {"NGINX_LISTEN": f"127.0.0.1:{port}",
              "NGINX_CONSOLE_LISTEN": f"127.0.0.1:{console_port}",
              "NGINX_HTTP_LISTEN": f"127.0.0.1:{http_port}", "NGINX_HTTPS_PORT": str(port),
              "TLS_CERT": str(cert), "TLS_KEY": str(key),
              "GATEWAY_1": gateways[0], "GATEWAY_2": gateways[-1],
              # With no console, its upstream points at a port nothing listens on.
              "CONSOLE": console or f"127.0.0.1:{free_port()}"}
    (prefix / "vigil.conf").write_text(
        string.Template(TEMPLATE.read_text()).safe_substitute(values))
    (prefix / "nginx.conf").write_text(MAIN_CONF.format(prefix=prefix))
    check = subprocess.run([str(NGINX), "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                           capture_output=True, text=True, timeout=30, check=False)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(port_answers(p) for p in (port, console_port, http_port)):
            assert proc.poll() is None, f"nginx exited: {proc.stderr.read() if proc.stderr else ''}"
            assert time.monotonic() < deadline, "nginx did not listen in time"
            time.sleep(0.2)
        yield Nginx(port, console_port, http_port, cert)
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
