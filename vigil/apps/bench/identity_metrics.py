"""Verification error rates over pairs of face embeddings, with a threshold sweep.

A pair matches when the L2 distance of its unit embeddings is at most the threshold (as the
face stage decides ``match``). Over every pair of pictures of a set: FMR = impostor pairs
(two people) that match, over impostor pairs; FNMR = genuine pairs (one person) that do not
match, over genuine pairs. The sweep puts the threshold at every distance seen, so the DET
curve has every operating point the data can show. ``fnmr_at_fmr`` reads the curve where a
deployment would set the threshold: the most lenient one whose FMR is at most the target.
With N impostor pairs the smallest non-zero FMR is 1/N, so an FMR target under 1/N can only
be met with no impostor match at all: the result says how many pairs it stands on.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Distances = npt.NDArray[np.float64]
FMR_TARGETS = (0.001, 0.01)


@dataclass(frozen=True)
class PairDistances:
    """Distances of every genuine and every impostor pair of one set."""

    genuine: Distances
    impostor: Distances


@dataclass(frozen=True)
class OperatingPoint:
    """One threshold and its error rates, with the counts behind them."""

    threshold: float
    false_matches: int
    impostor_pairs: int
    false_non_matches: int
    genuine_pairs: int

    @property
    def fmr(self) -> float:
        return self.false_matches / self.impostor_pairs if self.impostor_pairs else 0.0

    @property
    def fnmr(self) -> float:
        return self.false_non_matches / self.genuine_pairs if self.genuine_pairs else 0.0

    def __str__(self) -> str:
        return (f"FNMR {100 * self.fnmr:.1f}% ({self.false_non_matches}/{self.genuine_pairs}) "
                f"at FMR {100 * self.fmr:.2f}% ({self.false_matches}/{self.impostor_pairs}), "
                f"threshold {self.threshold:.3f}")


def pair_distances(embeddings: npt.NDArray[np.float32], people: Sequence[str]
                   ) -> PairDistances:
    """L2 distances of every pair of rows, split by whether both rows are one person."""
    if len(embeddings) != len(people):
        raise ValueError(f"{len(embeddings)} embeddings but {len(people)} names")
    genuine: list[float] = []
    impostor: list[float] = []
    for a, b in itertools.combinations(range(len(people)), 2):
        distance = float(np.linalg.norm(embeddings[a] - embeddings[b]))
        (genuine if people[a] == people[b] else impostor).append(distance)
    return PairDistances(np.asarray(genuine, dtype=np.float64),
                         np.asarray(impostor, dtype=np.float64))


def operating_point(pairs: PairDistances, threshold: float) -> OperatingPoint:
    """The error rates when distances up to ``threshold`` match."""
    return OperatingPoint(
        threshold,
        int(np.count_nonzero(pairs.impostor <= threshold)), len(pairs.impostor),
        int(np.count_nonzero(pairs.genuine > threshold)), len(pairs.genuine))


def sweep(pairs: PairDistances) -> list[OperatingPoint]:
    """An operating point at 0 and at every distance seen, strictest first."""
    thresholds = np.unique(np.concatenate([[0.0], pairs.genuine, pairs.impostor]))
    return [operating_point(pairs, float(t)) for t in thresholds]


def fnmr_at_fmr(pairs: PairDistances, target: float) -> OperatingPoint:
    """The most lenient operating point of the sweep whose FMR is at most ``target``."""
    allowed = int(np.floor(target * len(pairs.impostor) + 1e-9))
    ordered = np.sort(pairs.impostor)
    if allowed >= len(ordered):
        return operating_point(pairs, float(np.inf))
    # Just under the (allowed+1)-th smallest impostor distance: at most `allowed` match.
    limit = ordered[allowed]
    below = np.concatenate([[0.0], pairs.genuine[pairs.genuine < limit],
                            ordered[:allowed]])
    return operating_point(pairs, float(below.max()))


def plot_det(curves: dict[str, PairDistances], path: Path, title: str) -> Path:
    """A DET plot (FNMR against FMR, log axes) with one curve per label; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.8))
    colours = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]
    for index, (label, pairs) in enumerate(curves.items()):
        points = sweep(pairs)
        floor_fmr = 0.5 / max(len(pairs.impostor), 1)  # zero shown at half the resolution
        floor_fnmr = 0.5 / max(len(pairs.genuine), 1)
        axes.plot([max(p.fmr, floor_fmr) for p in points],
                  [max(p.fnmr, floor_fnmr) for p in points], label=label, drawstyle="steps-post",
                  color=colours[index % len(colours)])
    for target in FMR_TARGETS:
        axes.axvline(target, color="grey", linewidth=0.6, linestyle=":")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("FMR (impostor pairs matched; 0 drawn at half of 1/pairs)")
    axes.set_ylabel("FNMR (genuine pairs refused)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", linewidth=0.3)
    axes.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
