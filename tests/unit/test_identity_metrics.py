"""FMR/FNMR over pairs, the sweep and the reading at a target FMR."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.apps.bench.identity_metrics import (
    PairDistances,
    fnmr_at_fmr,
    operating_point,
    pair_distances,
    plot_det,
    sweep,
)


def test_pairs_are_split_by_person() -> None:
    vectors = np.asarray([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    pairs = pair_distances(vectors, ["a", "a", "b"])
    assert len(pairs.genuine) == 1 and len(pairs.impostor) == 2
    assert pairs.genuine[0] == np.float32(np.linalg.norm(vectors[0] - vectors[1]))


def test_fnmr_is_read_at_the_most_lenient_threshold_within_the_target() -> None:
    pairs = PairDistances(np.asarray([0.3, 0.6, 0.9, 1.2]),
                          np.asarray([0.7, 1.0, 1.1, 1.3] + [1.5] * 96))
    point = fnmr_at_fmr(pairs, 0.01)  # 100 impostors: one may match
    assert (point.false_matches, point.false_non_matches) == (1, 1)
    assert 0.9 <= point.threshold < 1.0
    strict = fnmr_at_fmr(pairs, 0.001)  # under 1/100: none may match
    assert (strict.false_matches, strict.false_non_matches, strict.threshold) == (0, 2, 0.6)
    assert str(strict).startswith("FNMR 50.0% (2/4) at FMR 0.00% (0/100)")


def test_the_sweep_runs_from_refusing_all_to_accepting_all(tmp_path: Path) -> None:
    pairs = PairDistances(np.asarray([0.2, 0.4]), np.asarray([0.3, 0.9]))
    points = sweep(pairs)
    assert (points[0].fnmr, points[0].fmr) == (1.0, 0.0)
    assert (points[-1].fnmr, points[-1].fmr) == (0.0, 1.0)
    assert operating_point(pairs, 0.35).false_matches == 1
    png = plot_det({"x": pairs}, tmp_path / "det.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
