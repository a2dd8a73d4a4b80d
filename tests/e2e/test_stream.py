"""The whole stream under `vigil up`: real WebSockets, Kafka, Redis, weights and images.

One `vigil up` serves every test in this module (starting it costs a minute on 2 cores).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from processors.vision.imaging import read_image, webcam_jpeg
from schemas.serializers import header_value
from tests.conftest import SHARED_WEIGHTS, Infra, require_testdata
from vigil.apps.client import StreamReport, stream_frames
from vigil.core.kafka import make_consumer
from vigil.core.settings import Settings, load_settings
from vigil.core.topics import DECISIONS, FRAMES_DLQ
from vigil.local.servers import free_port

pytestmark = pytest.mark.integration


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


@pytest.fixture(scope="module")
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


def outcome(report: StreamReport) -> list[tuple[str, str]]:
    return [(report.decisions[s]["action"], report.decisions[s]["reason"])
            for s in sorted(report.decisions)]


def test_each_frame_gets_the_expected_action(running: Running) -> None:
    alice = running.stream("alice", running.frames(
        "faces/obama_3.jpg", "faces/obama_4.jpg", "faces/biden_1.jpg",
        "objects/tflite_examples_table.jpg"))
    assert outcome(alice) == [("allow", "ok"), ("allow", "ok"),
                              ("lock_screen", "wrong_user"), ("lock_screen", "no_face")]
    live = running.stream("live", running.frames("spoof/image_F2.jpg"))
    assert outcome(live) == [("sign_out", "spoof")]
    woman = running.stream("woman", running.frames(
        "objects/coco_val2017_000000001296_face_phone.jpg"))
    assert outcome(woman) == [("sign_out", "phone")]

    # Evidence exists and decrypts for every non-allow decision.
    for report in (alice, live, woman):
        for decision in report.decisions.values():
            if decision["action"] == "allow":
                continue
            out = Path(running.env["VIGIL_STATE_DIR"]) / f"{decision['frame_id']}.jpg"
            shown = running.vigil("evidence", "show", decision["frame_id"], "--out", str(out))
            assert out.read_bytes().startswith(b"\xff\xd8\xff"), shown.stdout
            assert decision["reason"] in shown.stdout

    # The audit trail verifies, and stops verifying once a line is edited.
    time.sleep(3)  # the audit sink batches its fsyncs
    assert running.vigil("audit", "verify").returncode == 0
    log_file = Path(running.env["VIGIL_STATE_DIR"]) / "audit" / "audit.log"
    lines = log_file.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"lock_screen"' in line)
    lines[index] = lines[index].replace('"lock_screen"', '"allow"', 1)
    tampered = log_file.with_name("tampered.log")
    tampered.write_text("\n".join(lines) + "\n")
    bad = running.vigil("audit", "verify", "--file", str(tampered), check=False)
    assert bad.returncode != 0 and f"line {index + 1}" in (bad.stdout + bad.stderr), bad


def test_malformed_jpeg_goes_to_the_dlq_and_the_session_goes_on(running: Running) -> None:
    good = running.frames("faces/obama_3.jpg")[0]

    async def session() -> list[dict]:
        messages = []
        async with connect(running.url) as ws:
            await ws.send(json.dumps({"type": "hello", "protocol": 1, "client_id": "alice",
                                      "token": running.tokens["alice"]}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send(json.dumps({"type": "frame", "seq": 1, "captured_at": 1}))
            await ws.send(good[:400])  # a JPEG cut short: passes the gateway, not the decoder
            await ws.send(json.dumps({"type": "frame", "seq": 2, "captured_at": 2}))
            await ws.send(good)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                message = json.loads(await asyncio.wait_for(ws.recv(), 90))
                messages.append(message)
                if message.get("type") == "decision" and message["seq"] == 2:
                    break
        return messages

    messages = asyncio.run(session())
    decisions = [m for m in messages if m.get("type") == "decision"]
    assert [(d["seq"], d["action"]) for d in decisions if d["seq"] == 2] == [(2, "allow")]
    consumer = make_consumer(running.settings, f"{running.settings.namespace}-dlq-check")
    consumer.subscribe([FRAMES_DLQ.name(running.settings)])
    seqs = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "1" not in seqs:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seqs.add(header_value(msg.headers(), "seq"))
            assert header_value(msg.headers(), "error")
    consumer.close()
    assert "1" in seqs


def test_killed_face_processor_loses_no_frame_and_duplicates_no_reply(running: Running) -> None:
    frames = running.frames("faces/obama_3.jpg", "faces/obama_4.jpg") * 25
    pid_file = Path(running.env["VIGIL_STATE_DIR"]) / "run" / "face.pid"

    def kill_face_soon() -> None:
        time.sleep(2.0)  # about 20 frames sent, many in flight
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    import threading

    killer = threading.Thread(target=kill_face_soon)
    killer.start()
    seen: list[int] = []
    report = asyncio.run(stream_frames(
        running.url, "alice", running.tokens["alice"], frames, fps=10, reply_timeout_s=240,
        on_message=lambda m: seen.append(m["seq"]) if m.get("type") == "decision" else None))
    killer.join()
    assert report.lost == []
    assert sorted(seen) == list(range(1, 51)), "exactly one reply per frame"

    # And exactly one Decision per frame on the decisions topic.
    ids = {d["frame_id"] for d in report.decisions.values()}
    consumer = make_consumer(running.settings, f"{running.settings.namespace}-once-check")
    consumer.subscribe([DECISIONS.name(running.settings)])
    counts: dict[str, int] = {}
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 8:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            frame_id = DECISIONS.serializer.loads(msg.value()).frame_id
            if frame_id in ids:
                counts[frame_id] = counts.get(frame_id, 0) + 1
            idle_since = time.monotonic()
    consumer.close()
    assert set(counts) == ids and set(counts.values()) == {1}


def test_reference_client_prints_each_decision(running: Running) -> None:
    testdata = require_testdata()
    result = running.vigil(
        "client", "--client-id", "alice", "--token", running.tokens["alice"], "--url",
        running.url, "--fps", "4", str(testdata / "faces/obama_3.jpg"),
        str(testdata / "objects/tflite_examples_table.jpg"))
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("seq=")]
    assert [(words[1], words[2]) for words in lines] == [("allow", "ok"),
                                                         ("lock_screen", "no_face")]
    assert "2 frames, 2 decisions" in result.stdout
    refused = running.vigil("client", "--client-id", "alice", "--token", "wrong", "--url",
                            running.url, str(testdata / "faces/obama_3.jpg"), check=False)
    assert refused.returncode == 1 and "1008" in refused.stdout
