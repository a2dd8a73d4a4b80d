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


@pytest.mark.parametrize("name", FRONTAL_PHOTOS)
def test_a_photo_moved_as_a_flat_picture_never_passes(marker: Landmarker, name: str) -> None:
    photo = read_image(str(require_testdata() / "faces" / name))
    outcomes = {}
    for towards in (1.0, -1.0):
        for motion, views in motions(towards).items():
            poses = marker.poses([view_of(photo, v) for v in views])
            for kind in ChallengeKind:
                outcomes[(motion, towards, kind)] = judge(poses, kind, RULE)[0]
    assert "passed" not in outcomes.values(), outcomes
    turned = [o for (m, _, _), o in outcomes.items() if m == "turned"]
    assert turned.count("failed") >= len(turned) // 2, outcomes  # caught, not just timed out


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
