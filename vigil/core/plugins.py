"""The table of vision plug-ins: each role's plug-in names and where each plug-in's code lives.

Pure data (module paths as strings, nothing imported), so the settings can check a configured
name against it without reaching up into ``processors``; ``processors/vision/registry.py``
creates the plug-ins from it. Adding a plug-in is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["face_detector", "face_embedder", "liveness_model", "phone_detector"]
ENSEMBLE = "ensemble"  # the liveness plug-in that combines others (liveness_ensemble)


@dataclass(frozen=True)
class PluginSpec:
    """Where a plug-in lives and which importable packages it needs."""

    module: str
    cls: str
    requires: tuple[str, ...]
    torch: bool = True  # runs on torch (Ultralytics does too): the device choice needs it
    # The distribution whose wheel ships the weights (none in the manifest): its version
    # stands for the weights in the plug-in's version.
    bundled: str | None = None


REGISTRY: dict[Role, dict[str, PluginSpec]] = {
    "face_detector": {
        "mtcnn": PluginSpec("processors.vision.detector", "MtcnnFaceDetector",
                            ("torch", "facenet_pytorch"), bundled="facenet-pytorch"),
        "yunet": PluginSpec("processors.vision.yunet", "YuNetFaceDetector", ("cv2",),
                            torch=False),
        "yunet_openvino": PluginSpec("processors.vision.yunet_openvino",
                                     "OpenVinoYuNetFaceDetector", ("cv2", "openvino"),
                                     torch=False),
    },
    "face_embedder": {
        "facenet": PluginSpec("processors.vision.embedder", "FaceNetEmbedder",
                              ("torch", "facenet_pytorch")),
        # torch (and facenet_pytorch) only once, in a child process that converts the weights.
        "facenet_openvino": PluginSpec("processors.vision.openvino_face",
                                       "OpenVinoFaceNetEmbedder", ("openvino",), torch=False),
        # The same network quantized to int8 (NNCF once, in a child process: facenet_int8.py).
        "facenet_int8": PluginSpec("processors.vision.openvino_face",
                                   "OpenVinoFaceNetInt8Embedder", ("openvino", "nncf"),
                                   torch=False),
        "mobilefacenet": PluginSpec("processors.vision.mobilefacenet", "MobileFaceNetEmbedder",
                                    ("onnxruntime",), torch=False),
    },
    "liveness_model": {
        "minifasnet": PluginSpec("processors.vision.liveness", "MiniFasNetLiveness", ("torch",)),
        "minifasnet_openvino": PluginSpec("processors.vision.openvino_face",
                                          "OpenVinoMiniFasNetLiveness", ("openvino",),
                                          torch=False),
        "celebaspoof": PluginSpec("processors.vision.antispoof", "CelebaSpoofLiveness",
                                  ("onnxruntime",), torch=False),
        "celebaspoof_openvino": PluginSpec("processors.vision.openvino_face",
                                           "OpenVinoCelebaSpoofLiveness", ("openvino",),
                                           torch=False),
        "celebaspoof_int8": PluginSpec("processors.vision.antispoof", "CelebaSpoofInt8Liveness",
                                       ("onnxruntime",), torch=False),
        # Runs on torch when a member does: see processors.vision.registry.uses_torch.
        ENSEMBLE: PluginSpec("processors.vision.ensemble", "EnsembleLiveness", ()),
    },
    "phone_detector": {
        "yolo": PluginSpec("processors.vision.phone", "YoloPhoneDetector", ("ultralytics",)),
        "yolo_openvino": PluginSpec("processors.vision.phone_openvino", "OpenVinoPhoneDetector",
                                    ("openvino",), torch=False),
    },
}


# The face embedder setting "auto" (the default) takes the first of these it can run: the
# stronger model when the weights folder or the weights mirror holds its optional file (so a
# mirror that gains it switches the default with it), then FaceNet in int8 when there are
# photos to calibrate it on, else FaceNet in float. Templates name the weights that made them:
# a process that chose another model refuses them with "enroll again" rather than compare two
# models' embeddings (FaceNet's int8 and float runs share the weights and compare).
AUTO = "auto"
MOBILEFACENET_WEIGHTS = "mobilefacenet-128-arcface.onnx"
# The photos facenet_int8 calibrates on when int8_calibration_faces is not set: the shared
# test pictures beside the project, where they are (development machines and CI).
SHARED_TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
SHARED_FACES = SHARED_TESTDATA / "faces"
CALIBRATION_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class EmbedderChoice:
    """A face embedder "auto" may take, and what it needs beyond the fetched weights: an
    optional weights file, or calibration photos."""

    name: str
    weights: str | None = None
    calibrated: bool = False


AUTO_EMBEDDERS = (EmbedderChoice("mobilefacenet", weights=MOBILEFACENET_WEIGHTS),
                  EmbedderChoice("facenet_int8", calibrated=True),
                  EmbedderChoice("facenet_openvino"))
# Each embedder's own distance threshold, where verify_threshold is not set (docs/identity.md,
# "The global threshold"): MobileFaceNet's is the development identity sets' one threshold at
# FMR 0.1% (FNMR 0.9%); FaceNet-CASIA's, at FMR 0.1%, would refuse 9.1% of genuine pairs, so
# it is their one threshold at FMR 1% (0.994 in int8, FNMR 2.1%): the office webcam set's
# impostor pairs matched 44% -> 12.5% against 1.10, development sessions' impostors ever
# allowed 17 -> 7 of 200, no genuine frame of 28 sessions refused.
EMBEDDER_THRESHOLDS = {"facenet": 1.00, "facenet_openvino": 1.00, "facenet_int8": 1.00,
                       "mobilefacenet": 1.16}


def calibration_photos(folder: Path | None) -> list[Path]:
    """The photos of a calibration folder, by name (none when it is None or absent)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in CALIBRATION_SUFFIXES)


def choose_embedder(weights_dir: Path, mirror: Path | None = None,
                    calibration: Path | None = None) -> str:
    """What "auto" means with this weights folder: the first of AUTO_EMBEDDERS it can run,
    its optional file in the folder or in the ``mirror`` that fetching copies it from (so a
    process that chooses before the first fetch chooses as the stages will after it), or
    photos in the ``calibration`` folder."""
    folders = [weights_dir] + ([mirror] if mirror is not None else [])
    for choice in AUTO_EMBEDDERS:
        if choice.weights is not None:
            if any((f / choice.weights).is_file() for f in folders):
                return choice.name
        elif not choice.calibrated or calibration_photos(calibration):
            return choice.name
    raise AssertionError("the last of AUTO_EMBEDDERS needs nothing optional")


def plugin_names(role: Role) -> tuple[str, ...]:
    """The plug-in names of a role, sorted."""
    return tuple(sorted(REGISTRY[role]))


def ensemble_members() -> tuple[str, ...]:
    """The liveness plug-ins an ensemble may combine (every one but the ensemble itself)."""
    return tuple(name for name in plugin_names("liveness_model") if name != ENSEMBLE)
