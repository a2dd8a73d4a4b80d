"""The whole stream under `vigil up`: real WebSockets, Kafka, Redis, weights and images.

One `vigil up` (tests/stack.py) serves every test of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from schemas.events import Reason
from schemas.serializers import header_value
from tests.conftest import require_testdata
from tests.stack import Running
from vigil.apps.client import StreamReport, stream_frames
from vigil.core.flow import DECISIONS, FRAMES_DLQ
from vigil.core.kafka import make_consumer

NOT_EVALUATED = {Reason.INCOMPLETE, Reason.STALE, Reason.BAD_FRAME}  # no model saw both halves
MODEL_ROLES = {"face_detector", "face_embedder", "liveness_model", "phone_detector"}

pytestmark = pytest.mark.integration


def outcome(report: StreamReport) -> list[tuple[str, str]]:
    return [(report.decisions[s]["action"], report.decisions[s]["reason"])
            for s in sorted(report.decisions)]


def test_each_frame_gets_the_expected_action(running: Running) -> None:
    alice = running.stream("alice", running.frames(
        "faces/obama_3.jpg", "faces/obama_4.jpg", "faces/obama_3.jpg", "faces/biden_1.jpg",
        "objects/tflite_examples_table.jpg"))
    # The shipped policy allows once a session has shown three live frames (temporal
    # evidence), and signs out for a spoof once three of the last six scored frames were
    # spoof evidence (the first two hold the session as verifying). Identity is judged on
    # the median distance of the session's recent frames (identity.window): one frame of
    # another person among alice's is not enough for wrong_user (a person who stays is, from
    # their third frame: tests/decide/test_identity.py), but with identity.hold_mismatch that
    # frame is never allowed either: it is held as verifying.
    assert outcome(alice) == [("lock_screen", "ok"), ("lock_screen", "ok"), ("allow", "ok"),
                              ("lock_screen", "verifying"), ("lock_screen", "no_face")]
    live = running.stream("live", running.frames(*["spoof/image_F2.jpg"] * 3))
    assert outcome(live) == [("lock_screen", "verifying"), ("lock_screen", "verifying"),
                             ("sign_out", "spoof")]
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


def test_malformed_jpeg_gets_bad_frame_is_audited_and_the_session_goes_on(
        running: Running) -> None:
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
            while time.monotonic() < deadline and {1, 2} - {
                    m["seq"] for m in messages if m.get("type") == "decision"}:
                messages.append(json.loads(await asyncio.wait_for(ws.recv(), 90)))
            await asyncio.sleep(2.0)  # a second decision for either frame would come by now
            with contextlib.suppress(TimeoutError):
                messages.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
        return messages

    messages = asyncio.run(session())
    decisions = [m for m in messages if m.get("type") == "decision"]
    assert sorted((d["seq"], d["action"], d["reason"]) for d in decisions) == [
        (1, "lock_screen", "bad_frame"),  # answered, once, with the policy file's action
        (2, "lock_screen", "ok")]  # the session's first live frame: held, not yet allowed
    consumer = make_consumer(running.settings, f"{running.settings.deployment.namespace}-dlq-check")
    consumer.subscribe([FRAMES_DLQ.name(running.settings)])
    seqs = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "1" not in seqs:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seqs.add(header_value(msg.headers(), "seq"))
            assert header_value(msg.headers(), "error")
    consumer.close()
    assert "1" in seqs  # the operators' copy is still dead-lettered
    bad = next(d["frame_id"] for d in decisions if d["seq"] == 1)
    log_file = Path(running.env["VIGIL_STATE_DIR"]) / "audit" / "audit.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and bad not in log_file.read_text():
        time.sleep(0.5)
    audited = [line for line in log_file.read_text().splitlines() if bad in line]
    assert len(audited) == 1 and '"bad_frame"' in audited[0]


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
    assert report.close_code == 1000, "the session stayed open while face restarted"

    # And exactly one Decision per frame on the decisions topic.
    ids = {d["frame_id"] for d in report.decisions.values()}
    consumer = make_consumer(
        running.settings, f"{running.settings.deployment.namespace}-once-check"
    )
    consumer.subscribe([DECISIONS.name(running.settings)])
    counts: dict[str, int] = {}
    models: dict[str, dict[str, str]] = {}  # frame -> role -> plug-in@digest, both halves seen
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 8:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            decision = DECISIONS.serializer.loads(msg.value())
            if decision.frame_id in ids:
                counts[decision.frame_id] = counts.get(decision.frame_id, 0) + 1
                if decision.reason not in NOT_EVALUATED:
                    models[decision.frame_id] = dict(decision.models)
            idle_since = time.monotonic()
    consumer.close()
    assert set(counts) == ids and set(counts.values()) == {1}
    # Each evaluated decision names the models of both halves (issue 13: model versions).
    assert models, "no decision was evaluated by both models"
    for frame_id, named in models.items():
        assert set(named) >= MODEL_ROLES and all("@" in v for v in named.values()), (
            frame_id, named)


def test_reference_client_prints_each_decision(running: Running) -> None:
    testdata = require_testdata()
    result = running.vigil(
        "client", "--client-id", "alice", f"--token={running.tokens['alice']}", "--url",
        running.url, "--fps", "4", str(testdata / "faces/obama_3.jpg"),
        str(testdata / "objects/tflite_examples_table.jpg"))
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("seq=")]
    assert [(words[1], words[2]) for words in lines] == [("lock_screen", "ok"),
                                                         ("lock_screen", "no_face")]
    assert "2 frames, 2 decisions" in result.stdout
    refused = running.vigil("client", "--client-id", "alice", "--token", "wrong", "--url",
                            running.url, str(testdata / "faces/obama_3.jpg"), check=False)
    assert refused.returncode == 1 and "1008" in refused.stdout
