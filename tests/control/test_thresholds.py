"""Per-person thresholds against an impostor cohort, and the template blob that keeps them."""

from __future__ import annotations

import numpy as np
import pytest

from control.users.thresholds import choose_threshold, nearest_distances, own_spread
from vigil.core.template import Template, TemplateFormatError, decode_template, encode_template


def unit(*rows: list[float]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def along(distances: list[float]) -> np.ndarray:
    """Unit vectors at these L2 distances from (1, 0): cos = 1 - d^2 / 2."""
    cos = 1 - np.asarray(distances) ** 2 / 2
    return np.stack([cos, np.sqrt(1 - cos**2)], axis=1).astype(np.float32)


OWN = unit([1.0, 0.0])


def test_the_threshold_stops_under_the_nearest_cohort_member_when_the_cohort_is_small() -> None:
    choice = choose_threshold(OWN, along([0.9, 1.2, 1.3]), target_fmr=0.001, ceiling=1.1,
                              floor=0.5)
    assert choice.threshold == pytest.approx(0.88, abs=1e-4)  # 0.9 less the margin
    assert "0 of 3 cohort embeddings match" in choice.basis and "too small" in choice.basis


def test_a_large_cohort_allows_the_target_share_of_matches() -> None:
    cohort = along(list(np.linspace(0.8, 1.4, 1000)))  # 1000 impostors, FMR 0.1% = 1 match
    choice = choose_threshold(OWN, cohort, target_fmr=0.001, ceiling=1.1, floor=0.5)
    assert choice.threshold == pytest.approx(0.8006 - 0.02, abs=1e-3)
    assert int(np.count_nonzero(nearest_distances(OWN, cohort) <= choice.threshold)) <= 1


def test_the_global_threshold_caps_it_and_a_look_alike_cannot_push_it_under_the_floor() -> None:
    far = choose_threshold(OWN, along([1.5, 1.6]), 0.001, ceiling=1.1, floor=0.8)
    assert far.threshold == 1.1 and "capped" in far.basis
    twin = choose_threshold(OWN, along([0.3]), 0.001, ceiling=1.1, floor=0.8)
    assert twin.threshold == 0.8 and "look-alike" in twin.basis
    none = choose_threshold(OWN, np.zeros((0, 2), np.float32), 0.001, ceiling=1.1, floor=0.8)
    assert none.threshold == 1.1 and none.basis.startswith("no cohort")


def test_the_floor_is_at_least_the_spread_of_the_persons_own_photos() -> None:
    own = np.concatenate([OWN, along([0.95])])
    assert own_spread(own) == pytest.approx(0.95, abs=1e-4)
    choice = choose_threshold(own, along([0.5]) @ np.array([[1, 0], [0, -1]], np.float32),
                              0.001, ceiling=1.1, floor=0.6)
    assert choice.threshold == pytest.approx(0.95, abs=1e-4)


def test_a_template_round_trips_and_a_first_format_blob_still_reads() -> None:
    rows = unit([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    kept = Template(rows, 0.87, "1 of 5 cohort embeddings match", ({"face_px": 120.0},) * 2)
    back = decode_template(encode_template(kept), 2)
    assert back.threshold == 0.87 and back.threshold_basis == kept.threshold_basis
    assert back.qualities == kept.qualities and np.array_equal(back.embeddings, rows)
    legacy = np.ones((1, 512), np.float32).tobytes()
    assert decode_template(legacy, 1).embeddings.shape == (1, 512)
    assert decode_template(legacy, 1).threshold is None
    with pytest.raises(TemplateFormatError):
        decode_template(encode_template(kept)[:-4], 2)
