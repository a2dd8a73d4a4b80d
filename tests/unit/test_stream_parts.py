"""Pure parts of the stream plumbing: commit offsets, metrics endpoints, bench maths."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.apps.bench.ceiling import Ceiling, ceiling_lines
from vigil.apps.bench.e2e import CpuReading, cpu_line, step_passes
from vigil.apps.bench.report import StepSummary, percentile, plot_latency, summarize
from vigil.apps.client import StreamReport, image_paths
from vigil.core.metrics import FRAMES_DROPPED, serve_metrics
from vigil.core.stage_loop import next_offsets
from vigil.local.servers import free_port


@dataclass
class FakeMessage:
    """Only what next_offsets reads: where a message is."""

    t: str
    p: int
    o: int

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o


def test_next_offsets_commit_one_past_the_last_of_each_partition() -> None:
    batch = [FakeMessage("f", 0, 5), FakeMessage("f", 1, 9), FakeMessage("f", 0, 7),
             FakeMessage("g", 0, 1)]
    offsets = [(tp.topic, tp.partition, tp.offset) for tp in next_offsets(batch)]  # type: ignore[arg-type]
    assert offsets == [("f", 0, 8), ("f", 1, 10), ("g", 0, 2)]


def test_metrics_server_serves_metrics_and_health() -> None:
    healthy = {"ok": True}
    port = free_port()
    server = serve_metrics(port, healthy=lambda: healthy["ok"])
    assert server is not None
    try:
        FRAMES_DROPPED.labels("gateway", "rate_limited").inc()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b'vigil_frames_dropped_total{reason="rate_limited",stage="gateway"}' in body
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
        healthy["ok"] = False
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert err.value.code == 503
    finally:
        server.shutdown()
    assert serve_metrics(0) is None


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert math.isnan(percentile([], 50))


def test_summary_counts_lost_frames_and_plot_is_written(tmp_path: Path) -> None:
    full = StreamReport(sent={1: 0.0, 2: 1.0}, decisions={1: {}, 2: {}},
                        latencies_s={1: 0.2, 2: 0.4}, connected_at=0.0, welcomed_at=0.0)
    partial = StreamReport(sent={1: 0.0, 2: 1.0, 3: 2.0}, decisions={1: {}},
                           latencies_s={1: 0.3}, connected_at=0.0, welcomed_at=0.0)
    summary = summarize([full, partial], fps=1.0)
    assert (summary.sent, summary.decided, summary.lost) == (5, 3, 2)
    assert summary.concurrent.p50_s == 0.3 and summary.admitted_at_once == 2
    assert not any(line.startswith("WARNING") for line in summary.lines())
    plot = tmp_path / "plot.png"
    plot_latency([full, partial], plot)
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_queued_clients_latency_is_never_pooled_with_the_concurrent_ones() -> None:
    sent = {s: float(s) for s in range(1, 21)}  # 20 s of 1 fps
    at_once = [StreamReport(sent=dict(sent), decisions={s: {} for s in sent},
                            latencies_s={s: 0.5 for s in sent}, connected_at=0.0,
                            welcomed_at=0.1) for _ in range(2)]
    waited = StreamReport(sent={s: t + 30 for s, t in sent.items()}, decisions={1: {}},
                          latencies_s={1: 9.0}, queued_positions=[2, 1], connected_at=0.0,
                          welcomed_at=30.0)
    never = StreamReport(queued_positions=[1], connected_at=0.0)
    summary = summarize([*at_once, waited, never], fps=1.0)
    assert (summary.admitted_at_once, summary.waited, summary.refused) == (2, 2, 1)
    assert summary.wait_max_s == 30.0
    assert summary.concurrent.p99_s == 0.5 and summary.concurrent.count == 40
    assert summary.queued.p50_s == 9.0
    assert any(line.startswith("WARNING: 3 of 4 clients") for line in summary.lines())
    # Decisions received between 5 s after the first send and the last send: 2 clients'
    # frames 5..20 arrive at 5.5..20.5 (15 each within [6, 50]); the queued one's at 40.
    assert summary.window_decisions == 2 * 15 + 1
    assert summary.sustained_dps == summary.window_decisions / summary.window_s
    assert summary.window_evaluated == summary.window_decisions  # no reason is unevaluated


def test_image_paths_expand_folders_and_refuse_missing(tmp_path: Path) -> None:
    (tmp_path / "b.jpg").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in image_paths([tmp_path])] == ["a.png", "b.jpg"]
    with pytest.raises(FileNotFoundError, match="absent"):
        image_paths([tmp_path / "absent"])


def test_the_knee_needs_every_client_at_once_nothing_lost_and_p95_within_bound() -> None:
    def step(latency_s: float, lost: int = 0, queued: bool = False,
             reason: str = "ok") -> StepSummary:
        report = StreamReport(sent={1: 0.0, 2: 1.0},
                              decisions={1: {"reason": "ok"}, 2: {"reason": reason}},
                              latencies_s={1: latency_s, 2: latency_s}, connected_at=0.0,
                              welcomed_at=0.0, queued_positions=[1] if queued else [])
        if lost:
            report.decisions.pop(2)
            report.latencies_s.pop(2)
        return summarize([report], fps=1.0)

    assert step_passes(step(1.5), bound_s=2.0)
    assert not step_passes(step(2.5), bound_s=2.0)
    assert not step_passes(step(0.5, lost=1), bound_s=2.0)
    assert not step_passes(step(0.5, queued=True), bound_s=2.0)
    assert step_passes(step(0.5, reason="no_face"), bound_s=2.0)
    for unevaluated in ("incomplete", "stale"):  # answered, but not by both models
        summary = step(0.5, reason=unevaluated)
        assert summary.unevaluated == 1 and summary.reasons == {"ok": 1, unevaluated: 1}
        assert not step_passes(summary, bound_s=2.0)


def test_cpu_per_decision_names_each_process_and_the_machine() -> None:
    before = CpuReading({"face": 10.0, "phone": 20.0}, machine=100.0, at=50.0,
                        servers={"kafka": 5.0})
    after = CpuReading({"face": 12.0, "phone": 23.0, "face-1": 1.0}, machine=107.2, at=54.0,
                       servers={"kafka": 6.5})
    line = cpu_line(before, after, decided=100)
    # face 2 s, phone 3 s, face-1 (started meanwhile) 1 s over 100 decisions and 4 s; the
    # broker's 1.5 s apart, not in the stack's total.
    assert line.startswith("cpu per decision: 60.0 ms in all over 100 decisions (phone 30.0, "
                           "face 20.0, face-1 10.0; ms, the stack's processes; local servers: "
                           "kafka 15.0);")
    assert "machine busy 1.80 of" in line and line.endswith("the stack 1.50")
    assert cpu_line(before, after, decided=0).endswith("unknown (no decision, or no live pid "
                                                       "file)")


def test_the_ceiling_is_the_better_of_two_and_a_change_in_between_is_flagged() -> None:
    steady = Ceiling(frames=32, decode_ms=3.0, face_ms=22.0, phone_ms=25.0, threads=2)
    slower = Ceiling(frames=32, decode_ms=3.0, face_ms=40.0, phone_ms=25.0, threads=2)
    fps, lines = ceiling_lines(steady, steady)
    assert fps == 20.0 and len(lines) == 2 and "20.0 frames/s" in lines[0]
    fps, lines = ceiling_lines(slower, steady)
    assert fps == 20.0 and lines[-1].startswith("WARNING")


def test_a_session_the_server_closes_mid_stream_ends_the_stream_at_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """A block closes the session while frames are still being sent (or after the last):
    the client reports the close and what came, raises nothing, and does not wait out its
    reply timeout."""
    import asyncio
    import json
    import time

    from websockets.asyncio.server import ServerConnection, serve

    from vigil.apps.client import stream_frames

    async def server(ws: ServerConnection, close_after: int) -> None:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "welcome", "session_id": "s1"}))
        for seq in range(1, close_after + 1):
            await ws.recv()  # the frame's header
            await ws.recv()  # its JPEG
            await ws.send(json.dumps({"type": "decision", "session_id": "s1", "seq": seq,
                                      "action": "sign_out", "reason": "phone"}))
        await ws.send(json.dumps({"type": "status", "state": "blocked"}))
        await ws.close(1008, "blocked: escalation")

    async def run(frames: int, close_after: int) -> tuple[StreamReport, float]:
        port = free_port()
        async with serve(lambda ws: server(ws, close_after), "127.0.0.1", port):
            started = time.monotonic()
            report = await stream_frames(f"ws://127.0.0.1:{port}/v1/stream", "c", "t",
                                         [b"\xff\xd8"] * frames, fps=20.0,
                                         reply_timeout_s=120.0)
            return report, time.monotonic() - started

    for frames, close_after in ((6, 2), (2, 1)):  # closed while sending; after the last
        report, took_s = asyncio.run(run(frames, close_after))
        assert (report.close_code, report.close_reason) == (1008, "blocked: escalation")
        assert sorted(report.decisions) == list(range(1, close_after + 1))
        assert report.statuses == [{"type": "status", "state": "blocked"}]
        assert took_s < 60.0, took_s  # not the 120 s reply timeout
    assert "never retrieved" not in caplog.text
