"""The whole system under `vigil up`, shared by the e2e and browser tests (a pytest plugin).

One `vigil up` serves the whole session (starting it costs a minute on 2 cores): real
WebSockets, Kafka, Redis, weights and images. Each test uses its own clients: alice (obama_1,
obama_2), live (spoof/image_T1), woman (the phone photo) and pasted (a portrait in composites)
for the e2e tests; carol (as
alice), mallory (obama_1) and faker (image_T1) for the browser tests, whose pages leave locks
of frames in flight to the client's next session and end blocked or signed out. More
`vigil ingest` processes can join the deployment (``gateways``), for example one serving
``wss://`` (``tls_gateway``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.certificates import self_signed
from tests.conftest import SHARED_WEIGHTS, Infra, model_cache, require_testdata
from vigil.apps.client import StreamReport, stream_frames
from vigil.core.flow_types import PORT_STRIDE
from vigil.core.settings import Settings, load_settings
from vigil.local.servers import port_block

START_TIMEOUT_S = 120.0
# tests/e2e/test_composites.py: this portrait on a phone's screen and with a phone beside it.
COMPOSITE_PORTRAIT = "faces/kit_harington_2.jpg"
COMPOSITE_CLIENT = "pasted"
ENROLLMENTS = {
    COMPOSITE_CLIENT: [COMPOSITE_PORTRAIT],
    "alice": ["faces/obama_1.jpg", "faces/obama_2.jpg"],
    "live": ["spoof/image_T1.jpg"],
    "woman": ["objects/coco_val2017_000000001296_face_phone.jpg"],
    "carol": ["faces/obama_1.jpg", "faces/obama_2.jpg"],
    "mallory": ["faces/obama_1.jpg"],
    "faker": ["spoof/image_T1.jpg"],
}


@dataclass
class Running:
    settings: Settings
    env: dict[str, str]
    url: str
    tokens: dict[str, str]
    proc: subprocess.Popen[str]

    @property
    def page_url(self) -> str:
        """The browser client's page on the stack's gateway."""
        return f"http://127.0.0.1:{self.env['VIGIL_GATEWAY_PORT']}/"

    def vigil(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "vigil.apps.cli", *args], env=self.env,
                                capture_output=True, text=True, timeout=300, check=False)
        if check:
            assert result.returncode == 0, f"vigil {args}: {result.stdout}\n{result.stderr}"
        return result

    def frames(self, *names: str, quality: int = 60) -> list[bytes]:
        from processors.vision.imaging import read_image, webcam_jpeg

        testdata = require_testdata()
        return [webcam_jpeg(read_image(str(testdata / n)), quality=quality) for n in names]

    def stream(self, client: str, frames: list[bytes], fps: float = 4.0) -> StreamReport:
        return asyncio.run(stream_frames(self.url, client, self.tokens[client], frames, fps=fps,
                                         reply_timeout_s=90))


# Clients that get a step-up challenge at their session's start in the shared stack (the
# shipped policy, plus that): tests/browser/test_browser_challenges.py.
CHALLENGED_CLIENTS = ("turner", "flatface")


def stack_policy(state: Path) -> Path:
    """The shipped policy file, asking CHALLENGED_CLIENTS a head turn when they connect."""
    import yaml

    from processors.decide.policy_file import DEFAULT_POLICY_FILE

    policy = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    # A fake camera loops its video: 30 s to answer, whichever way the turn asked comes first.
    policy["challenges"] = {**policy.get("challenges", {}),
                            "at_start": list(CHALLENGED_CLIENTS), "deadline_s": 30}
    state.mkdir(parents=True, exist_ok=True)
    path = state / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def up_env(infra: Infra, namespace: str, state: Path, weights: Path) -> dict[str, str]:
    """The environment of a `vigil up` of its own (namespace, ports, state, a fresh key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    ports = port_block(1 + PORT_STRIDE)  # the gateway's, then the stage table's metrics ports
    env.update({
        "VIGIL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VIGIL_REDIS_URL": infra.redis_url,
        "VIGIL_NAMESPACE": namespace,
        "VIGIL_STATE_DIR": str(state),
        "VIGIL_WEIGHTS_DIR": str(weights),
        "VIGIL_MODEL_CACHE_DIR": str(model_cache(weights)),
        "VIGIL_WEIGHTS_MIRROR": str(SHARED_WEIGHTS),
        "VIGIL_PARTITIONS": "4",
        "VIGIL_GATEWAY_PORT": str(ports),
        "VIGIL_METRICS_PORT_BASE": str(ports + 1),
        "VIGIL_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "VIGIL_MAX_FPS": "30",
        "VIGIL_MAX_IN_FLIGHT": "64",
        # Shared CI machines are slow: a frame or a face result seconds late is contention,
        # not what these tests check, so decide waits longer for a frame's second half
        # (default 3 s) and processors take older frames (default 5 s; `stale` has its own
        # tests in tests/processors).
        "VIGIL_DECIDE_DEADLINE_MS": "15000",
        "VIGIL_FRAME_MAX_AGE_MS": "30000",
        "VIGIL_POLICY_FILE": str(stack_policy(state)),
        # Admission stays measured, but never below the seed's 4 sessions: the tests open up
        # to four at once and check decisions, not how a loaded CI machine queues them.
        "VIGIL_ADMISSION_SHARE_FLOOR": "4",
    })
    return env


@pytest.fixture(scope="session")
def running(infra: Infra, fetched_weights: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    testdata = require_testdata()
    namespace = f"e2e{os.getpid()}"
    env = up_env(infra, namespace, tmp_path_factory.mktemp("e2e-state"), fetched_weights)
    settings = load_settings(
        kafka_bootstrap=infra.kafka_bootstrap, redis_url=infra.redis_url, namespace=namespace,
        state_dir=Path(env["VIGIL_STATE_DIR"]), partitions=4,
        gateway_port=int(env["VIGIL_GATEWAY_PORT"]),
    )
    proc = subprocess.Popen([sys.executable, "-m", "vigil.apps.cli", "up"], env=env,
                            stdout=subprocess.PIPE, text=True)
    run = Running(settings, env, f"ws://127.0.0.1:{env['VIGIL_GATEWAY_PORT']}/v1/stream", {},
                  proc)
    try:
        # Enrolling while the stack starts costs no extra time.
        for client, images in ENROLLMENTS.items():
            run.vigil("enroll", client, *(str(testdata / i) for i in images))
            run.tokens[client] = run.vigil("token", "issue", client).stdout.strip().split()[-1]
        wait_ready(proc, timeout_s=900)  # generous: a loaded 2-core machine loads models slowly
        yield run
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            code = proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    rest = proc.stdout.read() if proc.stdout else ""
    assert code == 0 and "vigil stopped" in rest, (code, rest[-500:])


def wait_ready(proc: subprocess.Popen[str], timeout_s: float) -> None:
    """Read `vigil up`'s stdout until its ready line; fail if it exits or takes too long."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.startswith("vigil ready"):
            return
        assert time.monotonic() < deadline, "vigil up was not ready in time"
    pytest.fail(f"vigil up exited with {proc.wait()}")


# -- more gateways in the deployment ----------------------------------------------------------
@dataclass
class GatewayProcess:
    proc: subprocess.Popen[str]
    gateway_id: str
    address: str
    log: Path

    def admitted(self, client_id: str) -> int:
        return self.log.read_text().count(f"session admitted client_id={client_id} ")


def first_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    """The first stdout line starting with prefix (bounded wait; fails if the process dies)."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []],
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            assert proc.poll() is None, f"exited with {proc.returncode} before {prefix!r}"
            continue
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} within {timeout_s}s")


@contextmanager
def gateways(running: Running, tmp: Path, count: int = 2, **env: str
             ) -> Iterator[list[GatewayProcess]]:
    """`vigil ingest` processes on free loopback ports, in the stack's deployment (``env``:
    more VIGIL_ variables for them)."""
    started: list[GatewayProcess] = []
    try:
        for n in range(count):
            port = port_block(1)
            log = tmp / f"gateway-{n}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "vigil.apps.cli", "ingest", "--metrics-port", "0"],
                env={**running.env, **env, "VIGIL_GATEWAY_PORT": str(port)},
                stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
            line = first_line(proc, "gateway listening on", START_TIMEOUT_S)
            gateway_id = line.rsplit("gateway_id ", 1)[1].rstrip(")\n")
            started.append(GatewayProcess(proc, gateway_id, f"127.0.0.1:{port}", log))
        yield started
    finally:
        for gateway in started:
            if gateway.proc.poll() is None:
                gateway.proc.send_signal(signal.SIGTERM)
        for gateway in started:
            try:
                gateway.proc.wait(30)
            except subprocess.TimeoutExpired:
                gateway.proc.kill()


@dataclass(frozen=True)
class TlsGateway:
    """A gateway of the stack serving ``https://`` and ``wss://`` with a self-signed cert."""

    url: str  # wss://127.0.0.1:PORT/v1/stream
    page_url: str  # https://127.0.0.1:PORT/
    cert: Path

    @property
    def trust(self) -> ssl.SSLContext:
        """A client context that trusts this gateway's certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls_gateway(running: Running, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[TlsGateway]:
    folder = tmp_path_factory.mktemp("tls-gateway")
    cert, key = self_signed(folder)
    with gateways(running, folder, count=1, VIGIL_TLS_CERT=str(cert),
                  VIGIL_TLS_KEY=str(key)) as (gateway,):
        yield TlsGateway(f"wss://{gateway.address}/v1/stream", f"https://{gateway.address}/",
                         cert)
