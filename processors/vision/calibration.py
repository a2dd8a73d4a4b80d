"""Liveness scores calibrated to a probability that the face is live, per model.

Each liveness model has its own scale: MiniFASNet's 0.5 and CelebA-Spoof's 0.5 mean different
things, so a ``min`` or ``mean`` of raw scores mixes units. A calibration maps a model's raw
score ``s`` to ``P(live) = sigmoid(a * logit(s) + b)`` (Platt scaling on the logit of the
score), with ``a > 0`` so the map keeps the order of the scores. ``a`` and ``b`` are fitted
on the development frame sets by ``vigil bench calibrate`` and kept, with the sets and counts
they were fitted on, in ``liveness_calibration.toml`` beside this module (numbers, not data).

The file may also hold a logistic ``fusion``: ``P(live) = sigmoid(bias + sum_i w_i *
logit(p_i))`` over the members' calibrated probabilities ``p_i``, which the ensemble's
``fusion`` rule uses.

Models are named by family: ``minifasnet`` and ``minifasnet_openvino`` run the same weights,
as do ``celebaspoof``, ``celebaspoof_openvino`` and ``celebaspoof_int8``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import VigilError

DEFAULT_CALIBRATION_FILE = Path(__file__).with_name("liveness_calibration.toml")
EPS = 1e-6  # scores are clipped to [EPS, 1 - EPS] before the logit

Floats = npt.NDArray[np.float64]


class CalibrationError(VigilError, ValueError):
    """A calibration file that cannot be used; the message names the file and the key."""

    exit_code = 2


def family(plugin: str) -> str:
    """The model family of a liveness plug-in name (``celebaspoof_int8`` -> ``celebaspoof``)."""
    return plugin.split("_")[0]


def logit(scores: Sequence[float] | Floats) -> Floats:
    """log(p / (1 - p)) of scores clipped away from 0 and 1."""
    p = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)
    out: Floats = np.log(p / (1 - p))
    return out


def sigmoid(x: Floats) -> Floats:
    """1 / (1 + exp(-x)), without overflow warnings."""
    out: Floats = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
    return out


@dataclass(frozen=True)
class Platt:
    """``sigmoid(a * logit(s) + b)``; monotone increasing since ``a > 0``."""

    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if not (self.a > 0 and math.isfinite(self.a) and math.isfinite(self.b)):
            raise CalibrationError(f"calibration a={self.a} b={self.b}: a must be > 0, "
                                   "both finite")

    def apply(self, scores: Sequence[float] | Floats) -> Floats:
        """Calibrated P(live) of each raw score."""
        return sigmoid(self.a * logit(scores) + self.b)


@dataclass(frozen=True)
class Fusion:
    """Logistic fusion of calibrated member probabilities (members named by family)."""

    members: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float = 0.0

    def apply(self, calibrated: Mapping[str, Floats]) -> Floats:
        """P(live) per face from each member's calibrated probabilities of the same faces."""
        total = np.full(len(next(iter(calibrated.values()))), self.bias, dtype=np.float64)
        for member, weight in zip(self.members, self.weights, strict=True):
            if member not in calibrated:
                raise CalibrationError(f"fusion needs liveness model {member!r}; the ensemble "
                                       f"has {', '.join(calibrated)}")
            total += weight * logit(calibrated[member])
        return sigmoid(total)


@dataclass(frozen=True)
class LivenessCalibration:
    """Every model's calibration, and the fusion, as read from a calibration file."""

    models: dict[str, Platt] = field(default_factory=dict)
    fusion: Fusion | None = None
    source: str = "<none>"

    def calibrate(self, plugin: str, scores: Sequence[float] | Floats) -> Floats:
        """P(live) of a plug-in's raw scores; a model with no calibration keeps its scores."""
        platt = self.models.get(family(plugin))
        raw = np.asarray(scores, dtype=np.float64)
        return raw if platt is None else platt.apply(raw)


def _platt(name: str, raw: Any, source: str) -> Platt:
    if not isinstance(raw, dict) or not {"a", "b"} <= raw.keys():
        raise CalibrationError(f"calibration file {source}: models.{name} needs a and b")
    return Platt(float(raw["a"]), float(raw["b"]))


def _fusion(raw: Any, source: str) -> Fusion | None:
    if raw is None:
        return None
    try:
        members = tuple(str(m) for m in raw["members"])
        weights = tuple(float(w) for w in raw["weights"])
        fusion = Fusion(members, weights, float(raw.get("bias", 0.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"calibration file {source}: fusion: {exc}") from None
    if len(members) != len(weights) or not members:
        raise CalibrationError(f"calibration file {source}: fusion needs one weight per member")
    return fusion


def parse_calibration(text: str, source: str = "<calibration>") -> LivenessCalibration:
    """Read the TOML text of a calibration file (see the module docstring)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"calibration file {source}: not valid TOML: {exc}") from None
    models = {name: _platt(name, spec, source) for name, spec in raw.get("models", {}).items()}
    return LivenessCalibration(models, _fusion(raw.get("fusion"), source), source)


def load_calibration(path: Path | None) -> LivenessCalibration:
    """The calibration in ``path`` (the shipped file when None)."""
    path = path or DEFAULT_CALIBRATION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"calibration file {path}: cannot read: {exc.strerror}") from None
    return parse_calibration(text, str(path))


def balanced_weights(live: npt.NDArray[np.bool_]) -> Floats:
    """Per-frame weights giving live and spoof frames equal total weight (mean weight 1), so a
    fitted P(live) assumes even odds, whatever mix the development sets happen to have."""
    n = len(live)
    positives = max(1, int(live.sum()))
    negatives = max(1, n - positives)
    return np.where(live, n / (2 * positives), n / (2 * negatives)).astype(np.float64)


def _logistic(design: Floats, target: Floats, weight: Floats, ridge: float, start: Floats,
              iterations: int = 100) -> Floats:
    """Parameters minimising the weighted cross-entropy of sigmoid(design @ params) against
    ``target`` plus ``ridge`` * |params|^2 / 2: Newton steps, halved until the loss goes down
    (a plain Newton step diverges on scores piled up at 0 and 1)."""

    def loss(params: Floats) -> float:
        z = design @ params
        # log(1 + exp(z)) - target * z, written to stay finite for large |z|.
        return float(weight @ (np.logaddexp(0.0, z) - target * z)
                     + ridge * params @ params / 2)

    params = start.astype(np.float64)
    current = loss(params)
    for _ in range(iterations):
        p = sigmoid(design @ params)
        gradient = design.T @ (weight * (p - target)) + ridge * params
        hessian = ((design * (weight * p * (1 - p))[:, None]).T @ design
                   + ridge * np.eye(len(params)))
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6 and loss(params - scale * step) > current:
            scale /= 2
        params = params - scale * step
        previous, current = current, loss(params)
        if previous - current < 1e-10:
            break
    return params


def fit_platt(scores: Sequence[float] | Floats, live: Sequence[bool] | npt.NDArray[np.bool_]
              ) -> Platt:
    """Platt scaling fitted by damped Newton on the logit of the scores.

    Labels are smoothed as Platt did ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)) so a separable
    set does not send ``a`` to infinity; a small ridge keeps the Hessian invertible; live and
    spoof frames weigh the same in all (:func:`balanced_weights`).
    """
    x = logit(scores)
    y = np.asarray(live, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise CalibrationError(f"fitting needs live and spoof scores (got {positives} live, "
                               f"{negatives} spoof)")
    target = np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    design = np.stack([x, np.ones_like(x)], axis=1)
    params = _logistic(design, target, balanced_weights(y), 1e-3, np.array([1.0, 0.0]))
    a, b = float(params[0]), float(params[1])
    if a <= 0:
        raise CalibrationError(f"the scores rank spoofs above live faces (a={a:.3f}): not "
                               "a usable liveness score on these sets")
    return Platt(a, b)


def fit_fusion(members: Mapping[str, Floats], live: Sequence[bool] | npt.NDArray[np.bool_],
               ridge: float = 1e-3, iterations: int = 100) -> Fusion:
    """Logistic regression of the live label on the members' calibrated logits."""
    names = tuple(members)
    y = np.asarray(live, dtype=bool)
    design = np.stack([*(logit(members[n]) for n in names), np.ones(len(y))], axis=1)
    params = _logistic(design, y.astype(np.float64), balanced_weights(y), ridge,
                       np.zeros(design.shape[1]), iterations)
    return Fusion(names, tuple(float(w) for w in params[:-1]), float(params[-1]))
