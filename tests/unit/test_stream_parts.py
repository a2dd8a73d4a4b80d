"""Pure parts of the stream plumbing: commit offsets, metrics endpoints, bench maths."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.apps.bench_e2e import percentile, plot_latency, summarize
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
                        latencies_s={1: 0.2, 2: 0.4})
    partial = StreamReport(sent={1: 0.0, 2: 1.0, 3: 2.0}, decisions={1: {}},
                           latencies_s={1: 0.3})
    summary = summarize([full, partial])
    assert (summary.sent, summary.decided, summary.lost) == (5, 3, 2)
    assert summary.p50_s == 0.3
    plot = tmp_path / "plot.png"
    plot_latency([full, partial], plot)
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_image_paths_expand_folders_and_refuse_missing(tmp_path: Path) -> None:
    (tmp_path / "b.jpg").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in image_paths([tmp_path])] == ["a.png", "b.jpg"]
    with pytest.raises(FileNotFoundError, match="absent"):
        image_paths([tmp_path / "absent"])
