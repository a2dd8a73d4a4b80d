"""`vigil bench sessions` with the real plug-ins and today's policy file, on a tiny session set
made here from ../shared/testdata (a test of the bench, never a figure to choose defaults by)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processors.decide.policy_file import DEFAULT_POLICY_FILE, parse_policy
from schemas.events import Action, Reason
from tests.bench.session_set import MOVES, make_session_set
from tests.vision.conftest import TESTDATA, needs_testdata
from vigil.apps.bench.accuracy.metrics import Ratio
from vigil.apps.bench.sessions.bench import BenchOptions, SessionsReport, run_sessions
from vigil.apps.bench.sessions.decide import Step
from vigil.apps.bench.sessions.plots import plot_sessions
from vigil.apps.bench.sessions.report import format_report, write_json
from vigil.core.settings import Settings

pytestmark = needs_testdata

KNOB = "temporal.min_live_frames=5"
FRAMES = len(MOVES)


@pytest.fixture(scope="module")
def session_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_session_set(TESTDATA, tmp_path_factory.mktemp("sessions") / "tiny")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sessions-cache")


@pytest.fixture(scope="module")
def report(vision_settings: Settings, session_set: Path, cache_dir: Path) -> SessionsReport:
    return run_sessions(vision_settings, BenchOptions((session_set,), compare=(KNOB,),
                                                      cache_dir=cache_dir))


def steps_of(report: SessionsReport, name: str, column: int = 0) -> list[Step]:
    return next(steps for s, steps in report.columns[column].runs if s.name == name)


def test_a_genuine_session_is_allowed_and_attacks_never_are(report: SessionsReport) -> None:
    genuine = steps_of(report, "tiny/t.1")
    assert any(s.action is Action.ALLOW for s in genuine)
    for attack in ("tiny/t.print-1", "tiny/t.screen_replay-1"):
        assert all(s.action is not Action.ALLOW for s in steps_of(report, attack)), attack
    figures = report.columns[0].figures["tiny"]
    assert figures["attack sessions ever allowed"] == Ratio(0, 2)


def test_another_person_at_the_session_gets_wrong_user(report: SessionsReport) -> None:
    impostor = steps_of(report, "tiny/obama.1@tiny/t")
    assert any(s.reason is Reason.WRONG_USER and s.action is not Action.ALLOW
               for s in impostor)
    swap = steps_of(report, "tiny/t.1>tiny/obama.1")
    assert len(swap) == 2 * FRAMES
    # Identity is judged on the median of the last identity.window frames (policy.yaml): the
    # swapped-in person is refused once they are the majority of the window.
    window = parse_policy(DEFAULT_POLICY_FILE.read_text(), Settings()).identity.window
    assert all(s.action is not Action.ALLOW for s in swap[FRAMES + window // 2:])


def test_the_counts_add_up(report: SessionsReport) -> None:
    column = report.columns[0]
    assert column.enrolled == {"tiny/t": 2, "tiny/obama": 1, "tiny/woman": 1}
    kinds = [s.kind for s, _ in column.runs]
    # impostors: each of 3 enrolled people against the genuine sessions of the other people
    # (t: obama.1; obama: t.1; woman: t.1 and obama.1); swaps: t.1>obama.1 and obama.1>t.1.
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "genuine": 2, "attack": 2, "phone": 1, "impostor": 4, "swap": 2}
    figures = column.figures["tiny"]
    assert figures == column.overall  # one set: the set is the whole
    allowed = figures["genuine time allowed"]
    assert isinstance(allowed, Ratio) and allowed.total == 2 * FRAMES
    assert allowed.count == sum(s.action is Action.ALLOW for run in column.runs
                                if run[0].kind == "genuine" for s in run[1])
    assert figures["attack frames allowed"] == Ratio(0, 2 * FRAMES)
    assert figures["impostor frames allowed"].total == 4 * FRAMES  # type: ignore[union-attr]
    caught = figures["impostor sessions caught (wrong_user)"]
    ever = figures["impostor sessions ever allowed"]
    assert isinstance(caught, Ratio) and isinstance(ever, Ratio) and caught.total == 4


def test_compare_gives_a_column_each_and_a_stricter_hold_allows_later(
        report: SessionsReport) -> None:
    assert [c.alternative.label for c in report.columns] == ["configured", KNOB]
    first_allow = [next(s.t_s for s in steps_of(report, "tiny/t.1", i)
                        if s.action is Action.ALLOW) for i in (0, 1)]
    # Five live frames before the first allow: the fifth frame, 2 s in at 2 fps.
    assert first_allow[1] == 2.0 and first_allow[1] >= first_allow[0]
    table = format_report(report)
    header = next(line for line in table.splitlines() if "configured" in line
                  and KNOB in line and "policy" not in line)
    assert header.index("configured") < header.index(KNOB)


def test_a_second_run_takes_every_output_from_the_cache(
        vision_settings: Settings, session_set: Path, cache_dir: Path,
        report: SessionsReport) -> None:
    assert report.cache_misses > 0
    again = run_sessions(vision_settings, BenchOptions((session_set,), cache_dir=cache_dir))
    assert again.cache_misses == 0 and again.cache_hits > 0
    assert again.columns[0].overall == report.columns[0].overall


def test_json_and_timelines(report: SessionsReport, tmp_path: Path) -> None:
    write_json(report, tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    column = data["alternatives"][1]
    assert column["label"] == KNOB
    assert column["sets"]["tiny"]["attack frames allowed"] == {
        "count": 0, "total": 2 * FRAMES, "rate": 0.0}
    written = plot_sessions(report, tmp_path / "plots")
    # genuine 2, attack 2, phone 1, swap 2: impostors are in the figures only
    assert len(written) == 7 and all(p.stat().st_size > 1000 for p in written)
    assert (tmp_path / "plots" / "tiny" / "swap" / "tiny_t.1_to_tiny_obama.1.png") in written


def test_phone_reuse_repeats_the_last_checked_detections_and_is_reported(
        vision_settings: Settings, session_set: Path, cache_dir: Path,
        report: SessionsReport) -> None:
    """The configured column runs the phone stage's gate; with it off nothing is reused, and
    a reused frame's phone score is that of its session's last frame the detector ran on."""
    both = run_sessions(vision_settings, BenchOptions(
        (session_set,), compare=("phone_reuse_max_gap_ms=0",), cache_dir=cache_dir))
    on, off = both.columns
    assert not any(s.phone_reused for _, steps in off.runs for s in steps)
    for _, steps in on.runs:
        assert not steps[0].phone_reused  # a new client: nothing checked yet
        checked = steps[0].phone
        for step in steps[1:]:
            if step.phone_reused:
                assert step.phone == checked
            else:
                checked = step.phone
    reused = sum(s.phone_reused for _, steps in on.runs for s in steps)
    frames = sum(len(steps) for _, steps in on.runs)
    table = format_report(both)
    assert f"configured: phone detector reused on {reused} of {frames} frames" in table
    assert "phone_reuse_max_gap_ms=0: phone detector reused on 0 of" in table
    assert "frames decided otherwise than configured" in table
