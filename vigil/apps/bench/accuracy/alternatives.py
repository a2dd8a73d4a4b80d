"""What `vigil bench accuracy --compare NAME` means, and the models each alternative runs.

An alternative is the configured settings with some plug-ins swapped. ``NAME`` is:

- a plug-in name from the registry (``yunet``, ``celebaspoof``, ``yolo_openvino``, ...): it
  replaces the configured plug-in of its role;
- an ensemble of liveness plug-ins, ``RULE:A+B[+C]`` (RULE one of mean, min, product, fusion;
  without
  ``RULE:`` the configured ``liveness_combine``);
- the phone detector's test-time views, ``views:A+B`` (``views:whole+centre``; see
  ``phone_views``);
- a setting, ``NAME=VALUE`` (``openvino_precision=bf16``, ``yunet_max_side=320``);
- a policy knob, ``SECTION.KNOB=VALUE`` (``temporal.min_live_frames=5``,
  ``debounce.spoof=3``, ``thresholds.liveness=0.3``): the policy file the settings name with
  that key replaced (:func:`policy_for`), validated as the decide stage validates the file;
- several of those joined by commas (``yunet,min:minifasnet+celebaspoof``).

Models are loaded once per run and shared by every alternative that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import yaml
from pydantic import ValidationError

from processors.decide.policy import Policy
from processors.decide.policy_file import PolicyError, load_policy, parse_policy, policy_path
from processors.vision.base import FacePlugin, FramePlugin, LivenessPlugin, VisionPlugin
from processors.vision.chain import FaceChain
from processors.vision.device import DeviceChoice
from processors.vision.ensemble import COMBINE
from processors.vision.registry import REGISTRY, Role, configured_name, load_plugin
from processors.vision.results import FaceDetections, PhoneDetections
from vigil.core.errors import VigilError
from vigil.core.plugins import ENSEMBLE
from vigil.core.settings import Settings, SettingsError, flat_names

VIEWS = "views:"


class AlternativeError(VigilError, ValueError):
    """A --compare name that names no plug-in or ensemble; the message says what is known."""


@dataclass(frozen=True)
class Alternative:
    """A label for the table and the settings it changes."""

    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, str] = field(default_factory=dict)  # dotted policy key -> YAML value


def _role_of(name: str) -> Role:
    roles = [role for role, specs in REGISTRY.items() if name in specs and name != ENSEMBLE]
    if not roles:
        known = sorted({n for specs in REGISTRY.values() for n in specs} - {ENSEMBLE})
        raise AlternativeError(f"--compare {name!r} names no plug-in; known: {', '.join(known)}"
                               ", or an ensemble RULE:A+B")
    return roles[0]


def _ensemble(part: str) -> dict[str, Any]:
    rule, _, members = part.rpartition(":")
    overrides: dict[str, Any] = {"liveness_model": ENSEMBLE,
                                 "liveness_ensemble": tuple(members.split("+"))}
    if rule:
        if rule not in (*COMBINE, "fusion"):
            raise AlternativeError(f"--compare {part!r}: no combine rule {rule!r}; known: "
                                   f"{', '.join(COMBINE)}")
        overrides["liveness_combine"] = rule
    return overrides


def parse_alternative(text: str) -> Alternative:
    """The alternative a --compare argument names (see the module docstring)."""
    overrides: dict[str, Any] = {}
    policy: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise AlternativeError(f"--compare {text!r} has an empty part")
        if "=" in part and "." in part.partition("=")[0]:
            key, _, value = part.partition("=")
            policy[key] = value
        elif "=" in part:
            key, _, value = part.partition("=")
            if key not in flat_names():
                raise AlternativeError(f"--compare {part!r}: no setting {key!r}")
            overrides[key] = value
        elif part.startswith(VIEWS):
            overrides["phone_views"] = tuple(part.removeprefix(VIEWS).split("+"))
        elif "+" in part:
            overrides.update(_ensemble(part))
        else:
            overrides[_role_of(part)] = part
    return Alternative(text, overrides, policy)


def settings_for(base: Settings, alternative: Alternative) -> Settings:
    """The base settings with the alternative's changes, validated like any settings."""
    try:
        return base.replace(**alternative.overrides)
    except SettingsError as exc:  # a setting given twice
        raise AlternativeError(f"--compare {alternative.label!r}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise AlternativeError(f"--compare {alternative.label!r}: {problems}") from None


def policy_for(settings: Settings, alternative: Alternative) -> Policy:
    """The policy file ``settings`` (the alternative's, from :func:`settings_for`) name, with
    the alternative's policy knobs replaced, parsed and resolved against those settings as the
    decide stage does (PolicyError names a bad key or value)."""
    path = policy_path(settings)
    if not alternative.policy:
        return load_policy(path, settings)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy file {path}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policy file {path}: expected a mapping with at least `version`")
    for key, value in alternative.policy.items():
        *sections, knob = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise AlternativeError(f"--compare {key!r}: {section!r} is not a section of "
                                       f"{path}")
        node[knob] = yaml.safe_load(value)
    return parse_policy(yaml.safe_dump(raw), settings, f"{path} with {alternative.label}")


def describe(settings: Settings) -> str:
    """The plug-ins a settings object chooses, e.g. ``mtcnn / min:minifasnet+celebaspoof``."""
    liveness: str = settings.models.liveness_model
    if liveness == ENSEMBLE:
        members = "+".join(settings.models.liveness_ensemble)
        liveness = f"{settings.models.liveness_combine}:{members}"
    phone: str = settings.models.phone_detector
    if phone == "yolo_openvino" and settings.models.phone_views != ("whole",):
        phone += f" {VIEWS}{'+'.join(settings.models.phone_views)}"
    return f"{settings.models.face_detector} / {liveness} / {phone}"


@dataclass
class Pipeline:
    """The models one alternative runs: the face chain and the phone detector."""

    settings: Settings
    chain: FaceChain
    phone: FramePlugin[PhoneDetections]


class ModelCache:
    """Plug-ins loaded once and shared between alternatives."""

    def __init__(self, device: DeviceChoice) -> None:
        self.device = device
        self._loaded: dict[tuple[object, ...], VisionPlugin] = {}

    def plugin(self, role: Role, settings: Settings) -> VisionPlugin:
        """The loaded plug-in the settings choose for ``role``."""
        name = configured_name(settings, role)
        # Settings that change what a loaded plug-in computes are part of its key.
        key: tuple[object, ...] = (role, name, settings.models.openvino_precision,
                                   settings.models.yunet_max_side,
                                   settings.models.liveness_precision)
        if name == ENSEMBLE:
            key += (settings.models.liveness_ensemble, settings.models.liveness_combine,
                    settings.models.liveness_calibrated, settings.models.liveness_calibration_file)
        if name == "facenet_int8":
            key += (settings.models.int8_calibration_faces,)
        if role == "phone_detector":
            key += (settings.models.phone_views, settings.models.phone_rect_input,
                    settings.models.phone_cascade_floor, settings.models.phone_tile_alone)
        if key not in self._loaded:
            self._loaded[key] = load_plugin(role, settings, self.device, name)
        return self._loaded[key]

    def pipeline(self, settings: Settings) -> Pipeline:
        """The face chain and phone detector of one alternative."""
        chain = FaceChain(
            settings,
            cast(FramePlugin[FaceDetections], self.plugin("face_detector", settings)),
            cast(FacePlugin[np.ndarray], self.plugin("face_embedder", settings)),
            cast(LivenessPlugin, self.plugin("liveness_model", settings)),
            self.device,
        )
        phone = cast(FramePlugin[PhoneDetections], self.plugin("phone_detector", settings))
        return Pipeline(settings, chain, phone)
