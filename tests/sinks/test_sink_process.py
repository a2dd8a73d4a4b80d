"""A sink as its own process: /metrics and /healthz served, SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO
from tests.sinks.conftest import decision, env_of, produce_decisions, wait_for
from vigil.core.settings import Settings
from vigil.local.servers import free_port

pytestmark = pytest.mark.integration

def scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return 0, ""


def test_audit_sink_process_serves_metrics_and_stops_on_sigterm(sink_settings: Settings
                                                                ) -> None:
    produce_decisions(sink_settings, [decision("p-1")])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vigil.apps.cli", "sink", "audit",
                             "--metrics-port", str(port)],
                            cwd=REPO, env=env_of(sink_settings), stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: 'stage="audit"' in scrape(port, "/metrics")[1]
                 and 'kind="decision"' in scrape(port, "/metrics")[1], 45)
        assert scrape(port, "/healthz") == (200, "ok\n")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert time.monotonic() - started < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    log = sink_settings.deployment.state_dir / "audit" / "audit.log"
    assert log.read_text().count("\n") == 1
