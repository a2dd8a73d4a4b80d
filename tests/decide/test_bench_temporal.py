"""`vigil bench temporal` on hand-made sessions: the figures it prints follow the policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from processors.decide.graded import LivenessGrades
from processors.decide.policy_file import DEFAULT_POLICY_FILE, load_policy
from schemas.events import Action, Reason
from vigil.apps.bench.temporal import Variant, evaluate, play, table, variant_of
from vigil.apps.bench.temporal_sequences import (
    ScoreSequence,
    load_sequences,
    modelled_sequences,
    save_sequences,
)
from vigil.core.settings import load_settings

SHIPPED = load_policy(DEFAULT_POLICY_FILE, load_settings())
# The grid varies temporal evidence and spoof debounce; the shipped liveness grades (a spoof
# needs evidence in a window) are set aside so one low frame is a spoof, as the grid assumes.
POLICY = replace(SHIPPED, grades=LivenessGrades())
GENUINE = ScoreSequence("bona_fide", "g", (None, 0.9, 0.95, 0.2, 0.9, 0.9, 0.9))
ATTACK = ScoreSequence("attack", "a", (0.1, 0.7, 0.1, 0.8, 0.9, 0.1))


def test_play_runs_the_decide_policy_frame_by_frame() -> None:
    off = Variant(0, 1, 1).apply(POLICY)
    assert play(GENUINE, off, fps=2) == [
        Action.LOCK_SCREEN, Action.ALLOW, Action.ALLOW, Action.SIGN_OUT, Action.ALLOW,
        Action.ALLOW, Action.ALLOW]
    # With the shipped grades the doubtful frame (0.2) is no spoof: one dip after ok frames
    # stays allowed (liveness.grace); without the grace it holds the session.
    assert play(GENUINE, Variant(0, 1, 1).apply(SHIPPED), fps=2)[3] is Action.ALLOW
    no_grace = replace(SHIPPED, grades=replace(SHIPPED.grades, grace=False))
    assert play(GENUINE, Variant(0, 1, 1).apply(no_grace), fps=2)[3] is Action.LOCK_SCREEN
    two = Variant(2, 1, 1).apply(POLICY)
    assert play(GENUINE, two, fps=2) == [
        Action.LOCK_SCREEN, Action.LOCK_SCREEN, Action.ALLOW, Action.SIGN_OUT,
        Action.LOCK_SCREEN, Action.ALLOW, Action.ALLOW]


def test_evaluate_counts_latency_interruptions_and_attacks_passed() -> None:
    rows = {v: evaluate(POLICY, Variant.parse(v), False, [GENUINE, ATTACK], fps=2)
            for v in ("0/1/1", "2/1/1", "3/1/1")}
    assert rows["0/1/1"].added_frames == [0] and rows["2/1/1"].added_frames == [1]
    assert (rows["0/1/1"].interrupted, rows["0/1/1"].signed_out) == (1, 1)
    assert (rows["0/1/1"].attacks_passed, rows["0/1/1"].attack_frames_allowed) == (1, 3)
    assert (rows["2/1/1"].attacks_passed, rows["2/1/1"].attack_frames_allowed) == (1, 1)
    assert (rows["3/1/1"].attacks_passed, rows["3/1/1"].attack_frames) == (0, 6)
    text = table(list(rows.values()), 2, "t")
    assert "| 2/1/1 | 1.00 / 1 (500 / 500 ms) | 1/1 (100%) |" in text


def test_the_shipped_variant_and_bad_grid_entries() -> None:
    assert variant_of(POLICY) == Variant(POLICY.temporal.min_live_frames,
                                         POLICY.temporal.window, POLICY.debounce[Reason.SPOOF])
    for bad in ("3/3", "a/1/1", "-1/1/1", "1/0/1"):
        with pytest.raises(ValueError, match="grid entry"):
            Variant.parse(bad)


def test_sequences_round_trip_and_modelled_rates(tmp_path: Path) -> None:
    path = tmp_path / "scores.json"
    save_sequences(path, [GENUINE, ATTACK])
    assert load_sequences(path) == [GENUINE, ATTACK]
    modelled = modelled_sequences("attack", [0.9], [0.1], pass_rate=0.25, persistence=0.0,
                                  count=200, frames=20)
    frames = [s for seq in modelled for s in seq.liveness]
    assert all(seq.modelled for seq in modelled)
    assert 0.2 < frames.count(0.9) / len(frames) < 0.3  # 4000 draws at 25%
