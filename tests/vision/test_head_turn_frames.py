"""The head-turn check on real frames through the YuNet detector (no broker): a photo moved
as a flat picture never passes and, turned, fails; a real head turn passes its way only."""

from __future__ import annotations

import pytest

from processors.decide.challenge_policy import TurnRule
from processors.vision.imaging import read_image
from schemas.events import ChallengeKind
from tests.conftest import require_testdata
from vigil.apps.bench.challenges.cli import DEVDATA
from vigil.apps.bench.challenges.flat import motions, view_of
from vigil.apps.bench.challenges.headturn_data import TURNS, Turn
from vigil.apps.bench.challenges.run import ASKED_FOR, OTHER, Landmarker, _frames, judge
from vigil.core.settings import Settings

RULE = TurnRule()
FRONTAL_PHOTOS = ("obama_3.jpg", "biden_1.jpg", "rose_leslie_1.jpg", "alex_lacamoire_1.jpg")


@pytest.fixture(scope="module")
def marker(vision_settings: Settings) -> Landmarker:
    return Landmarker(vision_settings)


Outcomes = dict[tuple[str, str, float, ChallengeKind], str]


@pytest.fixture(scope="module")
def flat_outcomes(marker: Landmarker) -> Outcomes:
    """(photo, motion, side moved to, asked) -> outcome, for each frontal photo moved flat."""
    outcomes: Outcomes = {}
    for name in FRONTAL_PHOTOS:
        photo = read_image(str(require_testdata() / "faces" / name))
        for towards in (1.0, -1.0):
            for motion, views in motions(towards).items():
                poses = marker.poses([view_of(photo, v) for v in views])
                for kind in ChallengeKind:
                    outcomes[(name, motion, towards, kind)] = judge(poses, kind, RULE)[0]
    return outcomes


def test_a_photo_moved_as_a_flat_picture_never_passes(flat_outcomes: Outcomes) -> None:
    assert len(flat_outcomes) == len(FRONTAL_PHOTOS) * 5 * 2 * 2
    assert "passed" not in flat_outcomes.values(), flat_outcomes


def test_most_photos_turned_like_a_head_are_caught_as_flat(flat_outcomes: Outcomes) -> None:
    # The rest run out of time (refused too): on alex_lacamoire_1 none was caught as flat.
    turned = [o for (_, motion, _, _), o in flat_outcomes.items() if motion == "turned"]
    assert turned.count("failed") >= len(turned) // 2, flat_outcomes


@pytest.mark.parametrize("turn", [t for t in TURNS if t.set == "luyt.1"],
                         ids=lambda t: f"{t.set}@{t.first}")
def test_a_real_head_turn_passes_its_way_only(marker: Landmarker, turn: Turn) -> None:
    folder = DEVDATA / "headturn" / "genuine" / turn.set
    if not folder.is_dir():
        pytest.skip(f"head-turn frames {folder} are absent (vigil bench challenges --build)")
    poses = marker.poses(_frames(folder, turn.first, turn.last))
    asked = ASKED_FOR[turn.nose_to]
    assert judge(poses, asked, RULE)[0] == "passed"
    assert judge(poses, OTHER[asked], RULE)[0] != "passed"
