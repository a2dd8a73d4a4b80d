"""Prometheus metrics and /healthz for every Vigil process, each on its own port.

The metric objects are module-level (prometheus_client's registry is per process); each stage
labels them with its own name. ``serve_metrics`` starts a small HTTP server on 127.0.0.1 by
default: ``/metrics`` in the Prometheus text format and ``/healthz`` answering 200 while the
process's health check passes, 503 otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

# Latencies in seconds: webcam decisions should come back within a couple of seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)

# No client_id label on any metric: /metrics is served without authentication (compose binds it
# beyond loopback for Prometheus), and a label per client would list who is online.
FRAMES_IN = Counter("vigil_frames_in_total", "Frames received by the gateway")
FRAMES_DROPPED = Counter(
    "vigil_frames_dropped_total", "Frames dropped, by stage and reason", ["stage", "reason"]
)
MESSAGES_PROCESSED = Counter(
    "vigil_messages_processed_total", "Messages a stage finished and committed", ["stage"]
)
UNPROCESSED_FRAMES = Counter(
    "vigil_frames_unprocessed_total", "Frames a processor answered without running its models, "
    "by why (bad_frame, stale, session_ended)", ["stage", "why"]
)
PHONE_REUSED = Counter(
    "vigil_phone_frames_reused_total", "Frames answered with the client's last checked "
    "phone detections (scene unchanged, phone_reuse_max_gap_ms), the detector not run", ["stage"]
)
DEAD_LETTERS = Counter("vigil_dead_letters_total", "Messages sent to the DLQ", ["stage"])
DECISIONS_TOTAL = Counter(
    "vigil_decisions_total", "Decisions by action and reason", ["action", "reason"]
)
STAGE_LATENCY = Histogram(
    "vigil_stage_latency_seconds", "Time a stage spent on one batch", ["stage"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END_LATENCY = Histogram(
    "vigil_end_to_end_latency_seconds", "received_at to decided_at of each decision",
    buckets=LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "vigil_batch_size", "Messages per batch", ["stage"], buckets=(1, 2, 4, 8, 16, 32, 64, 128)
)
CONSUMER_LAG = Gauge(
    "vigil_consumer_lag", "Messages behind the end of the partition", ["stage", "partition"]
)
DEVICE = Gauge("vigil_device_info", "1 for the device the models run on", ["stage", "device"])
CONSUMER_ERRORS = Counter(
    "vigil_consumer_errors_total", "Kafka consumer errors seen (logged; the client retries)",
    ["stage", "error"],
)
# Admission, as the gateway's tick last saw it in Redis; the same for every gateway of a
# namespace (dashboards take max() over gateways).
CAPACITY = Gauge(
    "vigil_capacity_sessions", "Sessions the system admits now (the live model processes' "
    "shares, at most the configured capacity; control/cluster/admission.py)"
)
SESSIONS_IN_USE = Gauge("vigil_sessions_in_use", "Admission slots held now, every gateway")
QUEUE_WAITING = Gauge("vigil_queue_waiting", "Clients waiting for capacity now, every gateway")
# `vigil up`'s supervisor (its own /metrics: vigil.core.flow_types.supervisor_metrics_port).
MODEL_LOADS = Counter(
    "vigil_model_loads_total", "Background model loads for a hot swap (`vigil weights "
    "activate`), by outcome: swapped, failed (the old model keeps serving), superseded",
    ["stage", "role", "outcome"],
)
MODEL_INFO = Gauge(
    "vigil_model_info", "1 for the model version (plug-in@digest) a stage serves a role with",
    ["stage", "role", "version"],
)
BACKGROUND_ERRORS = Counter(
    "vigil_background_errors_total",
    "Errors of a background loop (outbox, clients file, upkeep tick...); each is retried",
    ["task"])
STAGE_RESTARTS = Counter(
    "vigil_stage_restarts_total", "Stage processes restarted by `vigil up`", ["stage"]
)
CONNECTIONS_REFUSED = Counter(
    "vigil_connections_refused_total", "WebSocket handshakes the gateway refused, by reason "
    "(origin, per_address_limit)", ["reason"],
)
SINK_OUTPUTS = Counter(
    "vigil_sink_outputs_total", "Items a sink made durable or delivered (evidence files, "
    "audit lines, replies)", ["stage", "kind"],
)


def serve_metrics(
    port: int, host: str = "127.0.0.1", healthy: Callable[[], bool] = lambda: True
) -> ThreadingHTTPServer | None:
    """Serve /metrics and /healthz on a daemon thread; port 0 turns the server off."""
    if port == 0:
        return None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path.startswith("/healthz"):
                ok = healthy()
                self._send(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n", "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the process log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server

# --- autoscaling (`vigil up` serves these on its own port) ----------------------------------
FRAME_AGE = Histogram(
    "vigil_frame_age_seconds", "Gateway receipt to a model stage's result, per frame (queueing "
    "in Kafka included): what the autoscaler's latency bound reads", ["stage"],
    buckets=LATENCY_BUCKETS,
)
STAGE_PROCESSES = Gauge(
    "vigil_stage_processes", "Processes `vigil up` runs for a stage (not counting ones leaving)",
    ["stage"],
)
SCALING_STEPS = Counter(
    "vigil_scaling_steps_total", "Processes the autoscaler started (up) or stopped (down), by "
    "reason", ["stage", "direction", "reason"],
)
GROUP_LAG = Gauge(
    "vigil_group_lag", "Messages a stage's consumer group is behind: end offsets minus "
    "committed offsets, read from the broker by `vigil up`", ["stage"],
)
STAGE_FRAME_AGE_P95 = Gauge(
    "vigil_stage_frame_age_p95_seconds", "p95 frame age over the last autoscaler interval, as "
    "`vigil up` read it from the stage's processes (NaN when no frame finished)", ["stage"],
)
STAGE_BUSY = Gauge(
    "vigil_stage_busy", "Summed fraction of time a stage's processes spent on batches over the "
    "last autoscaler interval (0 to the number of processes)", ["stage"],
)
