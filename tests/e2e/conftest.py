"""The package's one `vigil up`: real WebSockets, Kafka, Redis, weights and images.

Starting it costs a minute on 2 cores, so every test under tests/e2e shares it (package
scope): each uses its own clients.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from processors.vision.imaging import read_image, webcam_jpeg
from tests.conftest import SHARED_WEIGHTS, Infra, require_testdata
from vigil.apps.client import StreamReport, stream_frames
from vigil.core.settings import Settings, load_settings
from vigil.local.infra import free_port


@dataclass
class Running:
    settings: Settings
    env: dict[str, str]
    url: str
    tokens: dict[str, str]
    proc: subprocess.Popen[str]

    def vigil(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "vigil.apps.cli", *args], env=self.env,
                                capture_output=True, text=True, timeout=300, check=False)
        if check:
            assert result.returncode == 0, f"vigil {args}: {result.stdout}\n{result.stderr}"
        return result

    def frames(self, *names: str, quality: int = 60) -> list[bytes]:
        testdata = require_testdata()
        return [webcam_jpeg(read_image(str(testdata / n)), quality=quality) for n in names]

    def stream(self, client: str, frames: list[bytes], fps: float = 4.0) -> StreamReport:
        return asyncio.run(stream_frames(self.url, client, self.tokens[client], frames, fps=fps,
                                         reply_timeout_s=90))


def _env(infra: Infra, namespace: str, state: Path, weights: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update({
        "VIGIL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VIGIL_REDIS_URL": infra.redis_url,
        "VIGIL_NAMESPACE": namespace,
        "VIGIL_STATE_DIR": str(state),
        "VIGIL_WEIGHTS_DIR": str(weights),
        "VIGIL_WEIGHTS_MIRROR": str(SHARED_WEIGHTS),
        "VIGIL_PARTITIONS": "4",
        "VIGIL_GATEWAY_PORT": str(free_port()),
        "VIGIL_METRICS_PORT_BASE": str(free_port()),
        "VIGIL_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "VIGIL_MAX_FPS": "30",
        "VIGIL_MAX_IN_FLIGHT": "64",
    })
    return env


@pytest.fixture(scope="package")
def running(infra: Infra, fetched_weights: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    testdata = require_testdata()
    namespace = f"e2e{os.getpid()}"
    env = _env(infra, namespace, tmp_path_factory.mktemp("e2e-state"), fetched_weights)
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
        enrollments = {
            "alice": ["faces/obama_1.jpg", "faces/obama_2.jpg"],
            "live": ["spoof/image_T1.jpg"],
            "woman": ["objects/coco_val2017_000000001296_face_phone.jpg"],
        }
        for client, images in enrollments.items():
            run.vigil("enroll", client, *(str(testdata / i) for i in images))
            run.tokens[client] = run.vigil("token", "issue", client).stdout.strip().split()[-1]
        _wait_ready(proc, timeout_s=420)
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


def _wait_ready(proc: subprocess.Popen[str], timeout_s: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.startswith("vigil ready"):
            return
        assert time.monotonic() < deadline, "vigil up was not ready in time"
    pytest.fail(f"vigil up exited with {proc.wait()}")
