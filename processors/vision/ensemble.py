"""Liveness plug-in over several liveness models: each scores every face, scores combine.

The members are the liveness plug-ins named in ``liveness_ensemble``, created through the
registry (so a missing dependency names the member) and loaded once. ``liveness_combine``
says how their real-face scores become one:

- ``mean``: the average; a model that is sure can outvote an unsure one;
- ``min``: the lowest; a face is live only when every model says so;
- ``product``: the product; like ``min`` but two doubtful scores add up to a low one;
- ``fusion``: the logistic fusion of the calibration file (processors/vision/calibration.py).

With ``liveness_calibrated`` each member's score is first mapped to its calibrated P(live), so
the rules combine probabilities rather than each model's own scale.

Which rule is best is measured by `vigil bench accuracy` (README, accuracy section). Product and
the geometric mean order faces identically, so only the threshold differs between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from processors.vision.base import LivenessPlugin
from processors.vision.calibration import (
    CalibrationError,
    LivenessCalibration,
    family,
    load_calibration,
)
from processors.vision.imaging import Bounds, Image
from processors.vision.results import BoxXYXY

log = logging.getLogger(__name__)

Scores = npt.NDArray[np.float64]  # members x faces

COMBINE: dict[str, Callable[[Scores], npt.NDArray[np.float64]]] = {
    "mean": lambda s: s.mean(axis=0),
    "min": lambda s: s.min(axis=0),
    "product": lambda s: s.prod(axis=0),
}


def combine_scores(rule: str, member_scores: Sequence[Sequence[float]]) -> list[float]:
    """One score per face from each member's scores of the same faces."""
    if rule not in COMBINE:
        raise ValueError(f"unknown liveness_combine {rule!r}; known: {', '.join(COMBINE)}")
    stacked = np.asarray(member_scores, dtype=np.float64).reshape(len(member_scores), -1)
    return [float(v) for v in COMBINE[rule](stacked)]


class EnsembleLiveness(LivenessPlugin):
    """Real-face score in [0, 1] per face, combined from the member models' scores."""

    name = "ensemble"

    def load(self) -> None:
        """Create and load every member named in ``liveness_ensemble``."""
        from processors.vision.registry import create_plugin

        self._members: list[LivenessPlugin] = []
        for member in self.settings.models.liveness_ensemble:
            plugin = cast(LivenessPlugin,
                          create_plugin("liveness_model", self.settings, self.device, member))
            plugin.load()
            self._members.append(plugin)
        self._calibration = (load_calibration(self.settings.models.liveness_calibration_file)
                             if self.settings.models.liveness_calibrated else LivenessCalibration())
        if self.settings.models.liveness_combine == "fusion" and self._calibration.fusion is None:
            raise CalibrationError("liveness_combine fusion needs liveness_calibrated and a "
                                   f"fusion in {self._calibration.source}")
        self.loaded = True
        log.info(
            "loaded liveness ensemble members=%s combine=%s calibrated=%s",
            ",".join(self.settings.models.liveness_ensemble),
            self.settings.models.liveness_combine,
            self.settings.models.liveness_calibrated,
        )

    def score(self, frames: Sequence[Image], bounds: Sequence[Bounds],
              boxes: Sequence[Sequence[BoxXYXY]]) -> list[list[float]]:
        """Each member scores every face once (calibrated if so set), all with the same
        bounds; scores combine per face."""
        self._require_loaded()
        per_member = [member.score(frames, bounds, boxes) for member in self._members]
        out = []
        for index in range(len(frames)):
            faces = {member.name: np.asarray(scores[index], dtype=np.float64)
                     for member, scores in zip(self._members, per_member, strict=True)}
            out.append(self.combine(faces))
        return out

    def combine(self, faces: dict[str, npt.NDArray[np.float64]]) -> list[float]:
        """One score per face of a frame from each member's raw scores of those faces."""
        if self.settings.models.liveness_calibrated:
            faces = {name: self._calibration.calibrate(name, raw) for name, raw in faces.items()}
        if self.settings.models.liveness_combine == "fusion":
            assert self._calibration.fusion is not None
            by_family = {family(name): scores for name, scores in faces.items()}
            return [float(v) for v in self._calibration.fusion.apply(by_family)]
        return combine_scores(self.settings.models.liveness_combine,
                              [[float(v) for v in scores] for scores in faces.values()])
