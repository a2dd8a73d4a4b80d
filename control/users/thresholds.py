"""A client's own distance threshold, chosen at enrollment against an impostor cohort.

One global threshold serves nobody well: people who look alike to the embedder need a
stricter one, and a threshold set where celebrity photos years apart still match lets a
colleague through (docs/identity.md). So at enrollment each photo's embedding is compared
with a cohort of other people's embeddings, as the face stage would compare a frame (the
distance to the nearest enrolled embedding), and the threshold is set where at most
``target_fmr`` of the cohort would match.

The cohort is the other enrolled clients of this deployment (their decrypted embeddings; the
people most likely to sit at someone else's keyboard) plus, when ``identity_cohort_file``
names one, embeddings of public faces made by `vigil devdata cohort` with the same embedder
(kept outside git). Shipping a cohort in the repository would be data in git, and a cohort of
the deployment's own users is the one that matters.

The result never exceeds the global threshold (per-person thresholds only tighten), and never
falls under the larger of ``floor`` and the distance between the person's own enrollment
photos (so a look-alike in the cohort cannot lock the owner out; the basis then says so).
A cohort smaller than 1/target_fmr cannot measure that FMR: the threshold then stops just
under the nearest cohort member, and the basis says how many it stood on.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Embeddings = npt.NDArray[np.float32]
MARGIN = 0.02  # stay this far under the nearest cohort distance that must not match


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold and how it was reached (kept with the template, shown by clients show)."""

    threshold: float
    basis: str


def nearest_distances(own: Embeddings, cohort: Embeddings) -> npt.NDArray[np.float64]:
    """Per cohort embedding, its distance to the nearest of ``own`` (what the face stage
    would report if that person sat down)."""
    if len(cohort) == 0:
        return np.zeros(0)
    diffs = cohort[:, None, :].astype(np.float64) - own[None, :, :].astype(np.float64)
    result: npt.NDArray[np.float64] = np.linalg.norm(diffs, axis=2).min(axis=1)
    return result


def own_spread(own: Embeddings) -> float:
    """The largest distance between two of the person's own embeddings (0 for one)."""
    return max((float(np.linalg.norm(a - b)) for a, b in itertools.combinations(own, 2)),
               default=0.0)


def choose_threshold(own: Embeddings, cohort: Embeddings, target_fmr: float, ceiling: float,
                     floor: float) -> ThresholdChoice:
    """The person's threshold (see the module docstring)."""
    distances = np.sort(nearest_distances(own, cohort))
    if len(distances) == 0:
        return ThresholdChoice(ceiling, "no cohort: the global threshold")
    allowed = int(np.floor(target_fmr * len(distances) + 1e-9))
    if allowed >= len(distances):
        chosen, how = ceiling, "every cohort member within the target"
    else:
        chosen = float(distances[allowed]) - MARGIN
        small = allowed == 0 and len(distances) < 1 / target_fmr
        note = "; the cohort is too small to measure it" if small else ""
        how = (f"{allowed} of {len(distances)} cohort embeddings match (target FMR "
               f"{100 * target_fmr:g}%{note})")
    lowest = max(floor, own_spread(own))
    if chosen > ceiling:
        return ThresholdChoice(ceiling, f"{how}; capped at the global threshold")
    if chosen < lowest:
        return ThresholdChoice(lowest, f"{how}; raised to {lowest:.3f} (the floor or the own "
                               "photos' spread): a look-alike is enrolled")
    return ThresholdChoice(chosen, how)


def load_cohort_file(path: Path | None, dim: int) -> Embeddings:
    """The cohort embeddings of a .npy file (N x dim), or none when no file is set."""
    if path is None:
        return np.zeros((0, dim), dtype=np.float32)
    array = np.load(path, allow_pickle=False)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"cohort file {path}: expected (N, {dim}) embeddings of the "
                         f"configured embedder, got {array.shape}")
    return np.asarray(array, dtype=np.float32)
