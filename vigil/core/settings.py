"""One validated, immutable settings object per process.

Read from environment variables with the ``VIGIL_`` prefix and, optionally, a TOML file named by
``VIGIL_CONFIG`` (or passed to :func:`load_settings`). Environment variables win over the file.
Unknown keys, in the file or in the environment, are an error naming the key.

The seed's names map as: ``MaxClientPerPipeline`` -> ``max_clients_per_pipeline``,
``MaxPipeline`` -> ``max_pipelines``, ``NAMESPACE`` -> ``namespace``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vigil.core.errors import VigilError
from vigil.core.performance_settings import PerformanceSettings

ENV_PREFIX = "VIGIL_"
# VIGIL_ variables that are read by tools rather than by this object.
NON_SETTING_ENV = frozenset({"VIGIL_CONFIG", "VIGIL_CACHE", "VIGIL_SHARED"})
# A web origin as browsers send it: scheme://host[:port], nothing after.
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")
# The TOML file of the settings being loaded (set by load_settings, else VIGIL_CONFIG).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("_CONFIG_FILE", default=None)
USER_DB_SCHEMES = ("postgresql", "postgres")  # the URL schemes of a PostgreSQL user_db


# The single-model liveness plug-ins (an ensemble combines some of them).
LivenessModel = Literal["minifasnet", "minifasnet_openvino", "celebaspoof", "celebaspoof_openvino",
                        "celebaspoof_int8"]
PhoneView = Literal["whole", "shrunk", "tiled", "centre", "mirrored"]


class SettingsError(VigilError, ValueError):
    """A settings value or key is wrong; the message names the key and what is allowed."""

    exit_code = 2


class Settings(PerformanceSettings, BaseSettings):
    """Every tunable of a Vigil process. Each field documents itself and its range."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True
    )

    # --- deployment -------------------------------------------------------------------------
    namespace: str = Field(
        "vigil",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,48}$",
        description="Prefix of every topic name and Redis key, so deployments can share a "
        "cluster (the seed's NAMESPACE).",
    )
    state_dir: Path = Field(
        Path(".state"),
        description="Folder for local broker and Redis data, logs, the user database, "
        "evidence and fetched weights. Ignored by git.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logging level of every Vigil process."
    )

    # --- Kafka ------------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        min_length=3,
        description="Kafka bootstrap servers, comma-separated host:port. The local broker "
        "started by `vigil infra up` listens on the port of the first entry.",
    )
    kafka_controller_port: int = Field(
        9093, ge=1024, le=65535, description="KRaft controller port of the first local node "
        "(node N, counted from 0, uses this port + 2N)."
    )
    kafka_brokers: int | None = Field(
        None, ge=1, le=5, description="Kafka nodes `vigil infra up` runs on 127.0.0.1, each a "
        "KRaft broker and controller with its own data folder: 1, or 3 for a quorum that "
        "survives the loss of one. Node N (from 0) listens on the Nth kafka_bootstrap port, or "
        "on the first one + 2N when fewer are listed. None: one node per kafka_bootstrap "
        "address."
    )
    partitions: int = Field(
        12, ge=1, le=1000, description="Partition count of every topic (bounds parallelism)."
    )
    replication_factor: int | None = Field(
        None, ge=1, le=7, description="Replication factor of every topic Vigil creates. None: "
        "from the brokers the cluster reports, 3 on three or more, else their count. "
        "min.insync.replicas is one less (at least 1): 2 of 3 copies must have every write."
    )
    frames_retention_ms: int = Field(
        3_600_000, ge=60_000, le=7 * 86_400_000,
        description="How long raw frames (and dead-lettered frames) stay on Kafka. Raw faces "
        "are the most sensitive data here: the evidence sink copies what it keeps, encrypted, "
        "within seconds, so an hour is plenty.",
    )
    results_retention_ms: int = Field(
        86_400_000, ge=60_000, le=365 * 86_400_000,
        description="How long face and phone results stay on Kafka (replay for a day).",
    )
    audit_retention_days: int = Field(
        400, ge=1, le=3650,
        description="Days the decisions and control topics are kept, for auditors.",
    )
    restart_max: int = Field(
        5, ge=0, le=1000, description="Restarts of one stage `vigil up` allows within "
        "restart_window_s; one more stops Vigil (a stage that keeps dying needs a person).",
    )
    restart_window_s: float = Field(
        300.0, ge=1.0, le=86_400.0, description="The rolling window of restart_max.",
    )
    restart_capacity_grace_s: float = Field(
        120.0, ge=0.0, le=3600.0, description="How long a face processor that `vigil up` is "
        "restarting keeps its capacity (its heartbeat held), so that its sessions stay open "
        "and their frames wait in Kafka while it loads its models; 0: withdrawn at its TTL.",
    )
    startup_timeout_s: float = Field(
        60.0, gt=0, le=600, description="How long `vigil infra up` waits for each server."
    )

    # --- Redis ------------------------------------------------------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6390/0",
        pattern=r"^rediss?://",
        description="Redis URL. The local server started by `vigil infra up` listens on its "
        "port (6390 by default, away from a system Redis on 6379).",
    )

    # --- capacity (the seed's Pipeline Manager) ---------------------------------------------
    max_clients_per_pipeline: int = Field(
        4, ge=1, le=1000, description="Clients one processing pipeline serves (the seed's "
        "MaxClientPerPipeline)."
    )
    max_pipelines: int = Field(
        1, ge=1, le=1000, description="Processing pipelines available (the seed's MaxPipeline)."
    )

    # --- weights ----------------------------------------------------------------------------
    weights_dir: Path | None = Field(
        None,
        description="Where fetched model files live; defaults to STATE_DIR/weights.",
    )
    weights_mirror: Path | None = Field(
        None,
        description="Offline mirror folder holding the model files (tests and CI point it "
        "at ../shared/weights). Used by `vigil weights fetch` before any download.",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where models converted for OpenVINO are cached (named by weight file, "
        "sha256 and OpenVINO release, so never stale); defaults to STATE_DIR/model-cache. "
        "Several state folders may share one.",
    )

    # --- vision -----------------------------------------------------------------------------
    # Which plug-in serves each role (processors/vision/registry.py maps the name to the code).
    face_detector: Literal["mtcnn", "yunet", "yunet_openvino"] = Field(
        "yunet_openvino", description="Face detector plug-in: yunet_openvino (OpenCV Zoo "
        "YuNet run by OpenVINO, decoded as OpenCV does), yunet (the same file through "
        "cv2.FaceDetectorYN) or mtcnn (facenet-pytorch MTCNN). Default by `vigil bench "
        "accuracy` and `vigil bench models` (README): the same faces as yunet at a third of "
        "its CPU; yunet found the same faces as mtcnn at half of its."
    )
    face_embedder: Literal["facenet", "facenet_openvino", "mobilefacenet"] = Field(
        "facenet_openvino", description="Face embedder plug-in: facenet_openvino "
        "(InceptionResnetV1, 512-d, run by OpenVINO on the CPU; converted from the torch "
        "weights once, into STATE_DIR/model-cache), facenet (the same in torch; the one to "
        "choose on a CUDA machine) or mobilefacenet (128-d ArcFace-family ONNX on faces "
        "aligned by their landmarks; its file is optional in the manifest). Default by `vigil "
        "bench models` (README): the same embeddings at about half the CPU. Identity "
        "figures side by side: `vigil bench identity` (docs/identity.md). Changing it means "
        "enrolling everyone again (embeddings belong to the embedder) and choosing "
        "verify_threshold for it."
    )
    liveness_model: Literal[LivenessModel, "ensemble"] = Field(
        "ensemble", description="Liveness plug-in: ensemble (the models of liveness_ensemble, "
        "combined by liveness_combine), minifasnet (MiniFASNetV2 + V1SE, torch), "
        "minifasnet_openvino (the same run by OpenVINO), celebaspoof (MiniFASNetV2-SE trained "
        "on CelebA-Spoof, ONNX fp32, onnxruntime), celebaspoof_openvino (the same file run by "
        "OpenVINO) or celebaspoof_int8 (the same, int8). Default by `vigil "
        "bench accuracy` (README)."
    )
    liveness_ensemble: tuple[LivenessModel, ...] = Field(
        ("minifasnet_openvino", "celebaspoof_openvino"),
        min_length=2,
        description="The liveness plug-ins whose scores the ensemble combines.",
    )
    liveness_combine: Literal["mean", "min", "product"] = Field(
        "min", description="How the ensemble combines its members' real-face scores: mean, "
        "min (live only when every model says so) or product."
    )
    phone_detector: Literal["yolo", "yolo_openvino"] = Field(
        "yolo_openvino", description="Phone detector plug-in: yolo (Ultralytics, the file in "
        "phone_weights) or yolo_openvino (YOLO11n int8 OpenVINO IR, plain OpenVINO); both "
        "keep COCO class 67."
    )
    phone_views: tuple[PhoneView, ...] = Field(
        ("whole", "tiled"), min_length=1, description="Test-time views of each frame the "
        "yolo_openvino phone detector runs, boxes merged: whole (the frame), shrunk (half "
        "size: phones held close to the camera), tiled (the same half-size view, four frames "
        "of a batch tiled into one inference), centre (the middle 60% enlarged: small phones "
        "near a centred face), mirrored. One inference per frame and view, a quarter for "
        "tiled. Default by `vigil bench accuracy` (README): whole+tiled found the phones and "
        "replays whole+shrunk found, and more, at 60% of its CPU."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the models run. auto: CUDA when available with enough free memory "
        "(fp16 there), otherwise CPU.",
    )
    cuda_min_free_mb: int = Field(
        2048, ge=0, le=1_000_000, description="Free GPU memory needed to choose CUDA in auto."
    )
    inference_threads: int = Field(
        0, ge=0, le=256, description="CPU threads of each model runtime (torch, OpenVINO, ONNX "
        "Runtime) in a process; 0 keeps each runtime's default (all cores)."
    )
    phone_rect_input: bool = Field(
        True, description="Run the yolo_openvino whole view on a 640x480 input "
        "(the IR's fixed shapes rewritten, processors/vision/yolo_rect.py) instead of the "
        "640x640 square: a webcam frame without 160 rows of grey, 17 ms of CPU instead of 21. "
        "Default by `vigil bench accuracy` (README)."
    )
    phone_inference_threads: int | None = Field(
        1, ge=0, le=256, description="CPU threads of the yolo_openvino phone detector; None "
        "(null): inference_threads. Default by `vigil bench e2e` (README): a YOLO11n view "
        "costs 20.4 ms of CPU on one thread and 29.7 on two, and the phone process runs "
        "beside the face process on the same cores."
    )
    openvino_precision: Literal["f32", "bf16"] = Field(
        "bf16", description="Precision OpenVINO runs the float models in on the CPU: bf16 "
        "where the CPU has it (AVX512-BF16 or AMX; elsewhere f32 is used and logged), or f32. "
        "Default by `vigil bench accuracy` and `vigil bench models` (README): the same error "
        "rates on the development set, FaceNet and YuNet at half the CPU. The int8 phone "
        "detector runs f32 around its int8 layers either way (faster there)."
    )
    face_min_size: int = Field(
        60,
        ge=10,
        le=1000,
        description="Smallest face side in pixels that MTCNN looks for. Webcam faces are large; "
        "a larger value is faster and ignores faces in the background.",
    )
    face_detect_threshold: float = Field(
        0.9, ge=0.0, le=1.0, description="Minimum face detector score (MTCNN probability, "
        "YuNet score) to keep a face."
    )
    verify_threshold: float = Field(
        1.1,
        gt=0.0,
        le=4.0,
        description="Largest L2 distance between unit-length FaceNet embeddings that counts as "
        "the same person. Calibrated on ../shared/testdata/faces (CASIA FaceNet, MTCNN crops): "
        "same-person pairs reach 1.02 (1.04 as 640x480 q60 webcam frames), different people "
        "start at 1.18 apart except the known look-alike pair at 0.98-1.00; 1.1 sits midway.",
    )
    identity_target_fmr: float = Field(
        0.001, gt=0.0, lt=1.0, description="At enrollment, each client's own verify threshold "
        "is set where at most this share of an impostor cohort (the other enrolled clients, "
        "plus identity_cohort_file) would match it (control/users/thresholds.py)."
    )
    identity_cohort_file: Path | None = Field(
        None, description="Optional .npy of public faces' embeddings (N x dim, the configured "
        "embedder) added to the impostor cohort at enrollment; built outside git by `vigil "
        "devdata cohort`."
    )
    identity_threshold_floor: float = Field(
        0.75, gt=0.0, le=1.0, description="A client's own threshold never falls under this "
        "share of verify_threshold (nor under the distance between its own enrollment "
        "photos), so an enrolled look-alike cannot lock the owner out."
    )
    liveness_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Smallest real-face score of the liveness plug-in "
        "counted as live (each model has its own scale: choose it with `vigil bench accuracy`)."
    )
    phone_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="Smallest phone detector confidence counted as a "
        "phone."
    )
    embedder_weights: str = Field(
        "facenet-casia-webface-20180408-102900.pt",
        description="FaceNet state_dict file name (from weights/manifest.toml).",
    )
    liveness_weights: tuple[str, ...] = Field(
        ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth"),
        min_length=1,
        description="MiniFASNet weight files whose softmax outputs are averaged.",
    )
    yunet_weights: str = Field(
        "face_detection_yunet_2023mar.onnx",
        description="YuNet ONNX file for the yunet face detector (from weights/manifest.toml).",
    )
    yunet_max_side: int = Field(
        640, ge=160, le=1280, description="Longest side, in pixels, YuNet searches a frame at "
        "(larger frames are shrunk first, the boxes scaled back). Trained at about 640; on a "
        "640x480 webcam frame 320 costs about a quarter of the CPU and moves boxes by a few "
        "pixels (README, issue 11)."
    )
    celebaspoof_weights: str = Field(
        "antispoof_minifasnetv2se_celebaspoof_128.onnx",
        description="CelebA-Spoof anti-spoofing ONNX file of the celebaspoof liveness plug-in.",
    )
    celebaspoof_int8_weights: str = Field(
        "antispoof_minifasnetv2se_celebaspoof_128_int8.onnx",
        description="int8 CelebA-Spoof ONNX file of the celebaspoof_int8 liveness plug-in.",
    )
    phone_openvino_model: str = Field(
        "yolo11n_int8_openvino_model/yolo11n.xml",
        description="OpenVINO IR (.xml; its .bin beside it) of the yolo_openvino phone detector.",
    )
    phone_weights: str = Field(
        "yolov8n_int8.tflite",
        description="Ultralytics YOLO file (.pt, .onnx or .tflite) for phone detection.",
    )
    max_image_pixels: int = Field(
        4096 * 4096,
        ge=64 * 64,
        le=100_000_000,
        description="Decoded frames larger than this many pixels are refused.",
    )

    # --- enrollment ------------------------------------------------------------------------
    enroll_min_face_size: int = Field(
        80, ge=10, le=2000, description="Smallest face (shorter side of its box, in the "
        "photo's pixels) accepted for enrollment. The portraits of ../shared/testdata have "
        "faces of 117 px and more."
    )
    enroll_max_yaw: float = Field(
        0.4, gt=0.0, le=2.0, description="How far the nose may sit from the middle of the "
        "eyes, in eye distances, in an enrollment photo (0 faces the camera). Measured: the "
        "testdata portraits 0.00-0.31, a three-quarter view (zidane.jpg, left face) 0.47-0.57."
    )
    enroll_min_sharpness: float = Field(
        25.0, ge=0.0, le=100_000.0, description="Smallest variance of the Laplacian of the "
        "face (grey, resized to 160x160) accepted for enrollment. Measured: the testdata "
        "portraits 55-2062, the same blurred (Gaussian sigma = face side / 40) 4-11."
    )

    # --- model processors ------------------------------------------------------------------
    face_batch_size: int = Field(
        8, ge=1, le=256, description="Most frames the face processor runs as one batch."
    )
    phone_batch_size: int = Field(
        8, ge=1, le=256, description="Most frames the phone processor runs as one batch."
    )
    batch_deadline_ms: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Longest a processor waits to fill a batch before running what it has.",
    )
    frame_max_age_ms: int = Field(
        5000,
        ge=100,
        le=3_600_000,
        description="A frame older than this (from the gateway's received_at to the moment a "
        "processor reaches it) is not run through the models: a live session's frame is "
        "answered `stale` (its action from the policy file), an ended session's is skipped. "
        "Gateway and processors compare clocks, so keep them synchronised.",
    )
    ended_session_ttl_s: int = Field(
        3600,
        ge=10,
        le=30 * 86400,
        description="How long Redis remembers that a session ended, so the processors skip "
        "its frames still waiting in Kafka (keep it at least as long as frames are kept).",
    )

    # --- observability ---------------------------------------------------------------------
    metrics_host: str = Field(
        "127.0.0.1", description="Address the /metrics and /healthz servers bind to."
    )
    metrics_port_base: int = Field(
        9400,
        ge=0,
        le=65000,
        description="`vigil up` gives its processes metrics ports from here on (gateway, face, "
        "phone, decide, evidence, audit, replies); 0 turns metrics off.",
    )

    # --- secrets ----------------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        None,
        description="Base64 32-byte key for encryption at rest. Without it a key file is "
        "created with mode 0600 in STATE_DIR on first use. Never put it in the repo.",
    )

    # --- sinks ------------------------------------------------------------------------------
    evidence_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days evidence (frame + decision) is kept under STATE_DIR/evidence before "
        "the evidence sink or `vigil evidence purge` deletes it.",
    )
    evidence_purge_interval_s: float = Field(
        3600.0, ge=1.0, le=86400.0, description="How often the evidence sink purges old items."
    )
    frame_fetch_timeout_s: float = Field(
        5.0,
        gt=0,
        le=120.0,
        description="How long the evidence sink waits for one frame fetched from `frames` by "
        "offset before recording the decision alone.",
    )
    audit_log: Path | None = Field(
        None, description="The hash-chained audit log; defaults to STATE_DIR/audit/audit.log."
    )
    audit_signing_key: Path | None = Field(
        None, description="The audit sink's Ed25519 private key (PEM) that signs the log's "
        "checkpoints; made at the sink's first start. Give it to the audit sink alone. "
        "Defaults to STATE_DIR/audit/signing.key."
    )
    audit_verify_key: Path | None = Field(
        None, description="The public key that checks the checkpoints (`vigil audit verify`, "
        "the console). Defaults to STATE_DIR/audit/signing.pub, which the sink writes."
    )
    reply_dedupe_ttl_s: int = Field(
        3600,
        ge=1,
        le=7 * 86400,
        description="How long the replies sink remembers a frame it replied to, so a replayed "
        "decision sends no second reply.",
    )
    held_decisions_ttl_s: int = Field(
        600,
        ge=1,
        le=7 * 86400,
        description="How long a lock, sign-out or block that found the client without a "
        "session waits in Redis for the client's next session (which gets it after welcome).",
    )
    sink_batch_size: int = Field(
        32, ge=1, le=10_000, description="Messages one sink handles (and commits) per batch."
    )

    # --- auditor console --------------------------------------------------------------------
    console_host: str = Field(
        "127.0.0.1", min_length=1, description="Address `vigil console` listens on."
    )
    console_port: int = Field(
        8780, ge=0, le=65535, description="Port of `vigil console` (http://HOST:PORT/); 0 lets "
        "the OS pick one (tests)."
    )
    console_session_ttl_s: float = Field(
        3600.0, ge=60.0, le=86_400.0, description="How long a console login lasts before the "
        "auditor must log in again (kept on the server, whatever the browser does)."
    )

    # --- decide -----------------------------------------------------------------------------
    decide_deadline_ms: int = Field(
        3000,
        ge=100,
        le=600_000,
        description="How long the decide stage waits for the second half (face or phone "
        "result) of a frame before deciding `incomplete` with the missing half named.",
    )
    policy_file: Path | None = Field(
        None,
        description="The decision policy (YAML: thresholds, actions, debounce, escalation); "
        "defaults to processors/decide/policy.yaml. Reloaded without a restart when it "
        "changes.",
    )
    policy_check_interval_s: float = Field(
        1.0, ge=0.0, le=60.0, description="How often the decide stage checks the policy file's "
        "modification time (0: on every event)."
    )
    decided_frames_ttl_s: int = Field(
        1800,
        ge=10,
        le=7 * 86400,
        description="How long the decide stage remembers a decided frame_id, so a replayed or "
        "late result makes no second decision.",
    )
    decided_sweep_interval_s: float = Field(
        10.0, ge=0.5, le=3600.0, description="How often the decide stage forgets decided "
        "frame_ids older than decided_frames_ttl_s (at most 300 a partition each time, so a "
        "sweep never holds up decisions)."
    )
    decide_web_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the decide worker's Faust web server on 127.0.0.1; 0 turns it off. "
        "Each worker on one machine needs its own.",
    )

    # --- gateway and control plane ---------------------------------------------------------
    gateway_host: str = Field(
        "127.0.0.1", min_length=1, description="Address the WebSocket gateway listens on."
    )
    gateway_port: int = Field(
        8765, ge=0, le=65535, description="Port of the WebSocket gateway (ws(s)://HOST:PORT/"
        "v1/stream); 0 lets the OS pick one (tests)."
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate chain: with tls_key, the gateway serves wss://."
    )
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    allowed_origins: tuple[str, ...] = Field(
        (), description="Web origins (scheme://host[:port]) besides the gateway's own whose "
        "pages may open /v1/stream. A browser always sends Origin and one not listed is "
        "refused with HTTP 403; clients that send none (not browsers) are let through."
    )
    max_connections_per_address: int = Field(
        64, ge=0, le=100_000, description="Open WebSocket connections one client address may "
        "hold; one more is refused with HTTP 429 (behind a proxy, the address the proxy "
        "forwards: see trusted_proxies). 0 turns the limit off."
    )
    trusted_proxies: tuple[str, ...] = Field(
        (), description="Addresses or networks (10.0.0.5, 10.0.0.0/24) of proxies in front of "
        "the gateway and the console whose X-Forwarded-For and X-Forwarded-Proto are believed: "
        "the client's address is the right-most forwarded address that is not a trusted proxy. "
        "Headers from any other peer are ignored."
    )
    max_fps: float = Field(
        10.0, gt=0.0, le=240.0, description="Frames per second one client may send; extra "
        "frames are dropped with `error: rate_limited` (a burst of one second is allowed)."
    )
    max_frame_bytes: int = Field(
        1_048_576, ge=1024, le=16 * 1_048_576, description="Largest frame (or any message) "
        "in bytes; a larger one closes the session with 1009."
    )
    max_in_flight: int = Field(
        16, ge=1, le=10_000, description="Frames of one client produced but not yet answered "
        "by a decision; beyond it frames are dropped with `error: rate_limited`."
    )
    in_flight_timeout_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="After this long without a decision a frame no "
        "longer counts as in flight."
    )
    gateway_drain_s: float = Field(
        8.0, ge=0.0, le=300.0, description="On stop, how long the gateway waits for the "
        "decisions of frames in flight (refusing new frames with error shutting_down) before "
        "it closes its sessions with 1001."
    )
    hello_timeout_s: float = Field(
        5.0, gt=0.0, le=120.0, description="How long the gateway waits for the first message "
        "(hello) before closing with 1002."
    )
    queue_limit: int = Field(
        16, ge=0, le=100_000, description="Clients that may wait for capacity (told their "
        "position); one more is closed with 1013."
    )
    admission_poll_s: float = Field(
        0.5, gt=0.0, le=60.0, description="How often a queued client checks for a free slot."
    )
    heartbeat_ttl_s: float = Field(
        10.0, ge=0.5, le=600.0, description="Lifetime of every heartbeat and session slot in "
        "Redis; refreshed every third of it, so a crashed process frees its slots after this."
    )
    auth_failure_limit: int = Field(
        5, ge=1, le=10_000, description="Failed hellos from one address within "
        "auth_failure_window_s after which its hellos are refused (1008 too many failures)."
    )
    auth_failure_window_s: float = Field(
        60.0, ge=1.0, le=86_400.0, description="Window (and cooldown) of auth_failure_limit."
    )
    user_db: str | None = Field(
        None, description="The user database (clients, token hashes, encrypted embeddings): "
        "a SQLite file path (default STATE_DIR/users.sqlite3) for one machine, or a "
        "postgresql://USER@HOST:PORT/DB URL for a database that several machines share."
    )
    clients_file: Path | None = Field(
        None, description="Optional YAML file of blocked and paused clients (keys `blocked` "
        "and `paused`: client_id -> reason), applied by the gateway without a restart."
    )
    clients_file_poll_s: float = Field(
        1.0, ge=0.1, le=3600.0, description="How often the gateway checks clients_file's "
        "modification time."
    )
    outbox_poll_s: float = Field(
        1.0, gt=0.0, le=600.0, description="How often each gateway delivers the outbox: "
        "control events stored while Redis or Kafka was down (control/events/outbox.py)."
    )
    outbox_delivery_timeout_s: float = Field(
        5.0, gt=0.0, le=300.0, description="How long one control event may wait for Kafka "
        "before the outbox keeps it for a later round (a command waits about this long when "
        "Kafka is down)."
    )

    @field_validator("tls_key")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field check (not a model one) so the error names the key; tls_cert comes first.
        cert = info.data.get("tls_cert")
        if (cert is None) != (value is None):
            given = "tls_cert" if cert is not None else "tls_key"
            raise ValueError(f"{given} is set alone: wss:// needs both tls_cert and tls_key")
        return value

    @field_validator("user_db")
    @classmethod
    def _check_user_db(cls, value: str | None) -> str | None:
        # Without this, "mysql://..." would become a SQLite file in a folder named "mysql:".
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?", value or "")
        if scheme is None:
            return value
        postgres = scheme.group(1).lower() in USER_DB_SCHEMES
        if bool(scheme.group(2)) != postgres:  # another scheme, or "postgresql:" without //
            raise ValueError(f"cannot serve a user database at {scheme.group(0)}...: use "
                             "postgresql://USER@HOST:PORT/DB or a SQLite file path")
        return value

    @property
    def user_db_url(self) -> str | None:
        """The PostgreSQL URL of the user database, or None when it is a SQLite file."""
        if self.user_db is not None and self.user_db.split(":", 1)[0].lower() in USER_DB_SCHEMES:
            return self.user_db
        return None

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from vigil.core.forwarded import parse_networks

        parse_networks(value)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://host[:port] "
                                 "(no path, no trailing slash)")
        return tuple(origin.lower() for origin in value)

    @property
    def user_db_path(self) -> Path:
        """The SQLite user database file (user_db, else STATE_DIR/users.sqlite3)."""
        if self.user_db_url is not None:
            raise SettingsError("user_db is a PostgreSQL URL, not a SQLite file")
        return Path(self.user_db) if self.user_db else self.state_dir / "users.sqlite3"

    @field_validator("liveness_ensemble", "phone_views")
    @classmethod
    def _check_named_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"a name is given twice in {', '.join(value)}")
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {server!r}")
        return value

    @model_validator(mode="after")
    def _check_weights_dir(self) -> Settings:
        if self.weights_dir is None:
            object.__setattr__(self, "weights_dir", self.state_dir / "weights")
        if self.model_cache_dir is None:
            object.__setattr__(self, "model_cache_dir", self.state_dir / "model-cache")
        return self

    # --- derived values ---------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Sessions the system serves at once: max_pipelines x max_clients_per_pipeline."""
        return self.max_pipelines * self.max_clients_per_pipeline

    @property
    def weights_path(self) -> Path:
        """The folder of fetched model files (never None after validation)."""
        assert self.weights_dir is not None
        return self.weights_dir

    @property
    def model_cache_path(self) -> Path:
        """The folder of models converted for OpenVINO (never None after validation)."""
        assert self.model_cache_dir is not None
        return self.model_cache_dir

    def topic(self, name: str) -> str:
        """The full name of one of ARCHITECTURE.md's topics under the namespace."""
        return f"{self.namespace}.{name}"

    @property
    def kafka_ports(self) -> list[int]:
        """The port of every kafka_bootstrap address, in order."""
        return [int(server.rsplit(":", 1)[1]) for server in self.kafka_bootstrap.split(",")]

    @property
    def kafka_port(self) -> int:
        return self.kafka_ports[0]

    @property
    def local_kafka_nodes(self) -> int:
        """How many nodes `vigil infra up` runs (kafka_brokers, else one per address)."""
        return self.kafka_brokers or len(self.kafka_ports)

    @property
    def redis_port(self) -> int:
        from urllib.parse import urlparse

        return urlparse(self.redis_url).port or 6379

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE.get() or os.environ.get("VIGIL_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def reject_unknown_env(environ: Mapping[str, str]) -> None:
    """Raise SettingsError for a ``VIGIL_`` variable that names no setting."""
    known = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    for key in environ:
        upper = key.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known | NON_SETTING_ENV:
            hint = difflib.get_close_matches(upper, sorted(known), n=1)
            also = f" (did you mean {hint[0]}?)" if hint else ""
            raise SettingsError(f"unknown setting {key}{also}")


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    key = ".".join(str(part) for part in loc) or "settings"
    field = Settings.model_fields.get(str(loc[0])) if loc else None
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {key!r}"
    allowed = ""
    if field is not None:
        bounds = [
            f"{name} {getattr(m, name)}"
            for m in field.metadata
            for name in ("ge", "gt", "le", "lt")
            if getattr(m, name, None) is not None
        ]
        allowed = f" (allowed: {', '.join(bounds)})" if bounds else ""
    value = error.get("input")
    if key == "user_db" and isinstance(value, str):
        value = redact_url(value)
    return f"setting {key}={value!r}: {error.get('msg')}{allowed}"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}"))


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment, an optional TOML file and overrides.

    Raises SettingsError naming the bad key and its allowed range.
    """

    reject_unknown_env(os.environ)
    path = Path(config_file) if config_file is not None else None
    env_path = os.environ.get("VIGIL_CONFIG")
    for candidate in (path, Path(env_path) if env_path else None):
        if candidate is not None and not candidate.is_file():
            raise SettingsError(f"settings file {candidate} does not exist")
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: arrays nested thousands deep.
        raise SettingsError(f"settings file {path or env_path} is not valid TOML: "
                            f"{str(exc)[:200]}") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path or env_path}: {exc.strerror}") from None
    finally:
        _CONFIG_FILE.reset(token)
