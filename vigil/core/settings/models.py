"""Models settings: which plug-in serves each role, where and how the models run, their
thresholds and weight files.

The plug-in names are the registry's (vigil/core/plugins.py): a name is checked against that
table, never listed here a second time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from vigil.core.plugins import AUTO, EMBEDDER_THRESHOLDS, Role, ensemble_members, plugin_names
from vigil.core.settings.base import Area

PhoneView = Literal["whole", "shrunk", "tiled", "centre", "lower", "mirrored"]


def _one_of(what: str, names: Callable[[], tuple[str, ...]]) -> AfterValidator:
    def check(name: str) -> str:
        known = names()
        if name not in known:
            raise ValueError(f"no {what} named {name!r}; known: {', '.join(known)}")
        return name

    return AfterValidator(check)


def _plugin(role: Role) -> AfterValidator:
    return _one_of(f"{role} plug-in", lambda: plugin_names(role))


FaceDetectorName = Annotated[str, _plugin("face_detector")]
FaceEmbedderName = Annotated[str, _one_of(
    "face_embedder plug-in", lambda: (AUTO, *plugin_names("face_embedder")))]
LivenessModelName = Annotated[str, _plugin("liveness_model")]
PhoneDetectorName = Annotated[str, _plugin("phone_detector")]
EnsembleMember = Annotated[str, _one_of("liveness plug-in an ensemble combines", ensemble_members)]


class ModelsSettings(Area):
    """Plug-ins, runtimes, thresholds and weight files of the vision models."""

    face_detector: FaceDetectorName = Field(
        "yunet_openvino", description="Face detector plug-in: yunet_openvino (OpenCV Zoo "
        "YuNet run by OpenVINO, decoded as OpenCV does), yunet (the same file through "
        "cv2.FaceDetectorYN) or mtcnn (facenet-pytorch MTCNN). Default by `vigil bench "
        "accuracy` and `vigil bench models` (README): the same faces as yunet at a third of "
        "its CPU; yunet found the same faces as mtcnn at half of its."
    )
    face_embedder: FaceEmbedderName = Field(
        AUTO, description="Face embedder plug-in: auto (mobilefacenet when the weights folder "
        "or the weights mirror holds its optional file, else facenet_int8 when "
        "int8_calibration_faces has photos, else facenet_openvino: vigil/core/plugins.py "
        "AUTO_EMBEDDERS), "
        "facenet_openvino (InceptionResnetV1, 512-d, run by OpenVINO on the CPU; converted from "
        "the torch weights once, into STATE_DIR/model-cache), facenet_int8 (the same network "
        "quantized to int8 by NNCF once, on int8_calibration_faces; its templates and "
        "facenet_openvino's compare), facenet (the same in torch; the "
        "one to choose on a CUDA machine) or mobilefacenet (128-d ArcFace-family ONNX on faces "
        "aligned by their landmarks; its file is optional in the manifest). On the development "
        "identity sets (`vigil bench identity`, docs/identity.md) FNMR at FMR 0.1% was 0.9% "
        "(5/530) for mobilefacenet, 8.1% (43/530) for FaceNet and 9.1% (48/530) for it in "
        "int8. Changing between models means enrolling everyone again (embeddings belong to "
        "the weights that made them: templates of others are refused)."
    )
    int8_calibration_faces: Path | None = Field(
        None, description="Folder of face photos (jpg, png; 8 faces or more) that "
        "facenet_int8 calibrates its int8 ranges on, once (cached in model-cache, by the "
        "photos' digest). Unset: the shared test pictures beside the project "
        "(../shared/testdata/faces) where that folder exists; elsewhere facenet_int8 is not "
        "chosen by auto. Any faces do: they are not the users'."
    )
    liveness_model: LivenessModelName = Field(
        "ensemble", description="Liveness plug-in: ensemble (the models of liveness_ensemble, "
        "combined by liveness_combine), minifasnet (MiniFASNetV2 + V1SE, torch), "
        "minifasnet_openvino (the same run by OpenVINO), celebaspoof (MiniFASNetV2-SE trained "
        "on CelebA-Spoof, ONNX fp32, onnxruntime), celebaspoof_openvino (the same file run by "
        "OpenVINO) or celebaspoof_int8 (the same, int8). Default by `vigil "
        "bench accuracy` (README)."
    )
    liveness_ensemble: tuple[EnsembleMember, ...] = Field(
        ("minifasnet_openvino", "celebaspoof_openvino"),
        min_length=2,
        description="The liveness plug-ins whose scores the ensemble combines.",
    )
    liveness_combine: Literal["mean", "min", "product", "fusion"] = Field(
        "mean", description="How the ensemble combines its members' real-face scores: mean, "
        "min (live only when every model says so), product, or fusion (the logistic fusion "
        "in the calibration file; needs liveness_calibrated). Default by `vigil bench "
        "calibrate` (docs/accuracy.md): on 415 genuine development frames the calibrated "
        "mean scored 22 under 0.5 and none under 0.05, `min` of raw scores 59 under 0.5."
    )
    liveness_calibrated: bool = Field(
        True, description="Map each liveness model's raw score to a calibrated P(live) "
        "(processors/vision/calibration.py, fitted on the development sets by `vigil bench "
        "calibrate`) before the ensemble combines them; liveness thresholds are then "
        "probabilities."
    )
    liveness_calibration_file: Path | None = Field(
        None, description="Calibration file of the liveness models (TOML); default: "
        "processors/vision/liveness_calibration.toml."
    )
    phone_detector: PhoneDetectorName = Field(
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
        "replays whole+shrunk found, and more, at 60% of its CPU. lower (the lower 60% of the "
        "rows, middle 2/3 of the columns, enlarged) stays off: on the phone sets "
        "(docs/accuracy.md) it found 1 more of 108 phone frames, 1 more false phone of 364, "
        "no more 5-second windows (5 of 5 either way), at about 1.5 times the CPU."
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
    phone_cascade_floor: float = Field(
        0.02, ge=0.0, le=1.0, description="With the tiled view among phone_views, the other "
        "views (whole, ...) run on a frame only when its tiled cell holds a phone, tv or "
        "laptop score at or above this; 0 runs them on every frame. Default by measurement "
        "(docs/benchmarks/end-to-end.md, fifth round): on 5,985 development frames the whole "
        "view ran on 28% (19% of genuine ones), 607 of 613 frames with a phone kept it; phone "
        "sets 65/108 against 66/108, false phones 80/941 against 81/941; no session decision "
        "changed (34,695 frames); the phone detector at half its CPU."
    )
    phone_tile_alone: bool = Field(
        True, description="Run the tiled view of each frame on its own 320x320 input instead "
        "of four frames of a batch in the cells of one 640x640 inference. Shared, the cells see "
        "their neighbours (a box filling its cell touches them): a frame's phone and screen "
        "scores then depend on which frames, of any client, were batched with it (one "
        "frame's phone score moved 0.37-0.63 with its neighbours), so a bench that batches "
        "a session's frames together does not decide as a deployment does. On by "
        "measurement (docs/sessions.md, round 7): through a running stack, one client at a "
        "time, 7 of 853 development frames were decided otherwise than by the session bench "
        "with shared cells, 0 of 853 alone; aitkherimed's phone sessions caught 3 of 5 "
        "through the stack, which the bench says alone (5 of 5 shared). Alone runs the same "
        "arithmetic as four smaller inferences (alone 21.0 and 22.5 ms a frame against 20.9 "
        "shared, in two frame-level runs) and needs phone_rect_input "
        "(otherwise each frame pays a whole square)."
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
    liveness_precision: Literal["f32", "bf16"] = Field(
        "bf16", description="Precision OpenVINO runs the liveness models in "
        "(minifasnet_openvino, celebaspoof_openvino), apart from openvino_precision: bf16 where "
        "the CPU has it (AVX512-BF16 or AMX; elsewhere f32 is used and logged), or f32 (their "
        "scores then match torch's and ONNX Runtime's to 1e-4). Default by `vigil bench "
        "accuracy` and `vigil bench sessions` (docs/accuracy.md): on 4,385 development frames "
        "the calibrated score moved by 0.002 (median; at most 0.031), 13 frames at a threshold's "
        "edge were decided otherwise (attacks allowed 122 against 124, genuine frames decided "
        "spoof 65 both ways); in the sessions bench every figure was the same (26 of 9,552 "
        "frames decided otherwise, none newly allowed but 2 head-turn frames less); the three "
        "networks at half their CPU."
    )
    omp_wait_policy: Literal["passive", "active", "library"] = Field(
        "passive", description="How torch's OpenMP threads wait between parallel regions. "
        "passive: they sleep, which is what several model processes sharing a few cores need "
        "(spinning threads of one process steal the cores the others wait for; measured on "
        "the 2-core machine, the face chain ran several times faster next to the phone "
        "model); active: they spin (a little faster on cores of its own); library: "
        "OpenMP's default. OMP_WAIT_POLICY in the environment wins. passive also stops ONNX "
        "Runtime's threads from spinning.",
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
    verify_threshold: float | None = Field(
        None,
        gt=0.0,
        le=4.0,
        description="Largest L2 distance between unit-length embeddings that counts as the "
        "same person (a person enrolled with their own threshold is judged by it, never above "
        "this). None: the embedder's own, chosen on the development identity sets "
        "(EMBEDDER_THRESHOLDS: facenet 1.00, mobilefacenet 1.16).",
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

    @field_validator("liveness_ensemble", "phone_views")
    @classmethod
    def _check_named_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"a name is given twice in {', '.join(value)}")
        return value

    @property
    def verify(self) -> float:
        """The distance threshold in force: verify_threshold, else the embedder's own."""
        if self.verify_threshold is not None:
            return self.verify_threshold
        if self.face_embedder == AUTO:
            raise ValueError("face_embedder 'auto' is chosen when the settings are validated")
        return EMBEDDER_THRESHOLDS[self.face_embedder]
