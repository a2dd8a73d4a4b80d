"""The explicit registry from a configured name to a vision plug-in.

No import-time discovery: a plug-in's module is imported only when it is created, and its
third-party dependencies are checked first, so a missing package fails loudly at startup,
naming the package and the plug-in that needs it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import Literal, cast

from processors.vision.base import VisionPlugin
from processors.vision.device import DeviceChoice
from vigil.core.errors import VigilError
from vigil.core.settings import Settings
from vigil.core.weights import files_digest, recording_weights

Role = Literal["face_detector", "face_embedder", "liveness_model", "phone_detector"]
# The roles `vigil weights activate` may change while the stages run. Not the embedder:
# enrolled embeddings belong to the embedder that made them (change it by setting, re-enroll).
ACTIVATABLE: tuple[Role, ...] = ("face_detector", "liveness_model", "phone_detector")


class MissingDependencyError(VigilError, RuntimeError):
    """A plug-in's Python package is not installed."""


class UnknownModelError(VigilError, ValueError):
    """A role or plug-in name that the registry does not know (or that cannot be activated)."""


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
        # Runs on torch when a member does: see uses_torch.
        "ensemble": PluginSpec("processors.vision.ensemble", "EnsembleLiveness", ()),
    },
    "phone_detector": {
        "yolo": PluginSpec("processors.vision.phone", "YoloPhoneDetector", ("ultralytics",)),
        "yolo_openvino": PluginSpec("processors.vision.phone_openvino", "OpenVinoPhoneDetector",
                                    ("openvino",), torch=False),
    },
}


def configured_name(settings: Settings, role: Role) -> str:
    """The plug-in name the settings choose for a role."""
    name: str = getattr(settings, role)
    return name


def uses_torch(role: Role, settings: Settings, name: str | None = None) -> bool:
    """Whether the plug-in the settings choose for ``role`` (or ``name``) runs on torch (an
    ensemble: when one of its members does)."""
    name = name or configured_name(settings, role)
    if role == "liveness_model" and name == "ensemble":
        return any(REGISTRY[role][member].torch for member in settings.liveness_ensemble)
    return REGISTRY[role][name].torch


def create_plugin(role: Role, settings: Settings, device: DeviceChoice,
                  name: str | None = None) -> VisionPlugin:
    """Instantiate (not load) the plug-in configured for ``role``."""
    name = name or configured_name(settings, role)
    specs = REGISTRY[role]
    spec = specs.get(name)
    if spec is None:
        raise KeyError(f"no {role} plug-in named {name!r}; known: {', '.join(sorted(specs))}")
    for package in spec.requires:
        if importlib.util.find_spec(package) is None:
            raise MissingDependencyError(
                f"{role} plug-in {name!r} needs the Python package {package!r}, which is not "
                "installed (run scripts/setup.sh)"
            )
    plugin_cls = getattr(importlib.import_module(spec.module), spec.cls)
    plugin: VisionPlugin = plugin_cls(settings, device)
    return plugin


def check_activation(role: str, name: str) -> tuple[Role, str]:
    """``role`` and ``name`` when `vigil weights activate` may choose them, else an error
    listing what it may choose."""
    if role not in ACTIVATABLE:
        hint = (" (the embedder is chosen by the face_embedder setting: enrolled embeddings "
                "belong to it, so changing it means enrolling again)"
                if role == "face_embedder" else "")
        raise UnknownModelError(f"no activatable role {role!r}; roles: "
                                f"{', '.join(ACTIVATABLE)}{hint}")
    known = REGISTRY[cast(Role, role)]
    if name not in known:
        raise UnknownModelError(f"no {role} plug-in named {name!r}; known: "
                                f"{', '.join(sorted(known))}")
    return cast(Role, role), name


@dataclass(frozen=True)
class LoadedPlugin:
    """A loaded, warmed-up plug-in and its version: ``name@digest`` (schemas ModelVersions)."""

    plugin: VisionPlugin
    version: str


def load_versioned(role: Role, settings: Settings, device: DeviceChoice,
                   name: str | None = None) -> LoadedPlugin:
    """Create, load and warm up a plug-in (the configured one unless ``name``), noting the
    weight files it loaded for its version."""
    name = name or configured_name(settings, role)
    plugin = create_plugin(role, settings, device, name)
    with recording_weights() as used:
        plugin.load()
    plugin.warm_up()
    bundled = REGISTRY[role][name].bundled
    if used:
        digest = files_digest(used)
    elif bundled is not None:
        digest = f"{bundled}-{importlib.metadata.version(bundled)}"
    else:
        raise RuntimeError(f"{role} plug-in {name!r} loaded no weights file from the "
                           "manifest and names no package that bundles its weights")
    return LoadedPlugin(plugin, f"{name}@{digest}")


def load_plugin(role: Role, settings: Settings, device: DeviceChoice,
                name: str | None = None) -> VisionPlugin:
    """Create, load and warm up the plug-in configured for ``role``."""
    return load_versioned(role, settings, device, name).plugin
