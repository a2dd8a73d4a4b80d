"""Liveness calibration: maps keep the order of scores, fit what they are given, and the
shipped file loads (processors/vision/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest

from processors.vision.calibration import (
    DEFAULT_CALIBRATION_FILE,
    CalibrationError,
    Platt,
    family,
    fit_fusion,
    fit_platt,
    load_calibration,
    parse_calibration,
)

GRID = np.linspace(0.0, 1.0, 201)


def test_the_shipped_file_loads_with_a_monotone_map_per_model_and_a_fusion() -> None:
    calibration = load_calibration(None)
    assert calibration.source == str(DEFAULT_CALIBRATION_FILE)
    assert set(calibration.models) == {"minifasnet", "celebaspoof"}
    for name in calibration.models:
        mapped = calibration.calibrate(name, GRID)
        assert np.all(np.diff(mapped) >= 0), name
        assert mapped.min() >= 0.0 and mapped.max() <= 1.0
    assert calibration.fusion is not None
    assert set(calibration.fusion.members) == {"minifasnet", "celebaspoof"}
    # More live-looking members never make a less live-looking fusion.
    low = {"minifasnet": np.array([0.2]), "celebaspoof": np.array([0.2])}
    high = {"minifasnet": np.array([0.8]), "celebaspoof": np.array([0.8])}
    if all(w >= 0 for w in calibration.fusion.weights):
        assert calibration.fusion.apply(high)[0] > calibration.fusion.apply(low)[0]


def test_the_shipped_file_names_the_sets_it_was_fitted_on() -> None:
    text = DEFAULT_CALIBRATION_FILE.read_text(encoding="utf-8")
    assert "Fitted by `vigil bench calibrate" in text and " live, " in text


def test_plug_in_names_share_their_family_calibration() -> None:
    assert family("celebaspoof_int8") == family("celebaspoof_openvino") == "celebaspoof"
    assert family("minifasnet_openvino") == "minifasnet"
    calibration = parse_calibration("[models.minifasnet]\na = 2.0\nb = -1.0\n")
    assert np.allclose(calibration.calibrate("minifasnet_openvino", [0.5]),
                       Platt(2.0, -1.0).apply([0.5]))
    # A model without a calibration keeps its raw scores.
    assert calibration.calibrate("celebaspoof", [0.3])[0] == pytest.approx(0.3)


def test_a_fit_recovers_a_known_calibration_and_keeps_the_order() -> None:
    rng = np.random.default_rng(7)
    raw = rng.uniform(0.001, 0.999, 4000)
    # Even odds (the fit weighs live and spoof frames alike), so b is recovered as well as a.
    truth = Platt(0.5, 0.0)
    live = rng.uniform(size=raw.size) < truth.apply(raw)
    fitted = fit_platt(raw, live)
    assert fitted.a == pytest.approx(0.5, abs=0.1) and fitted.b == pytest.approx(0.0, abs=0.15)
    assert np.all(np.diff(fitted.apply(GRID)) >= 0)


def test_a_fusion_weighs_the_informative_member() -> None:
    rng = np.random.default_rng(3)
    live = rng.uniform(size=3000) < 0.5
    useful = np.where(live, rng.uniform(0.6, 0.99, live.size), rng.uniform(0.01, 0.4, live.size))
    noise = rng.uniform(0.01, 0.99, live.size)
    fusion = fit_fusion({"good": useful, "noise": noise}, live)
    assert fusion.weights[0] > 5 * abs(fusion.weights[1])


def test_scores_ranked_backwards_or_one_sided_labels_are_refused() -> None:
    with pytest.raises(CalibrationError, match="rank spoofs above"):
        fit_platt([0.9, 0.8, 0.2, 0.1], [False, False, True, True])
    with pytest.raises(CalibrationError, match="needs live and spoof"):
        fit_platt([0.9, 0.8], [True, True])


@pytest.mark.parametrize(("text", "message"), [
    ("[models.minifasnet]\na = -1\nb = 0\n", "a must be > 0"),
    ("[models.minifasnet]\nb = 0\n", "needs a and b"),
    ("[fusion]\nmembers = ['a', 'b']\nweights = [1.0]\n", "one weight per member"),
    ("not toml [", "not valid TOML"),
])
def test_a_bad_file_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        parse_calibration(text, "bad.toml")

