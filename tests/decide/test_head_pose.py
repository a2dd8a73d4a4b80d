"""Head pose from five landmarks: a head's turn moves the nose, a flat picture's never does."""

from __future__ import annotations

import numpy as np
import pytest

from processors.decide.head_pose import DegenerateLandmarks, head_pose, try_head_pose
from tests.decide.head_turns import flat_picture, head


def test_a_turn_to_the_persons_left_moves_the_nose_up_the_square_and_right_down() -> None:
    frontal = head_pose(head())
    assert frontal.u == pytest.approx(0.5)
    left, right = head_pose(head(25)), head_pose(head(-25))
    assert left.u > 0.65 and right.u < 0.35
    assert left.aspect < frontal.aspect and right.aspect < frontal.aspect


def test_any_homography_of_a_flat_face_keeps_the_nose_where_it_was() -> None:
    rng = np.random.default_rng(7)
    points = np.array(head(12))  # a face already a little turned, photographed
    before = head_pose([tuple(p) for p in points])
    for _ in range(50):
        h = np.eye(3) + rng.normal(scale=[[0.2, 0.2, 40], [0.2, 0.2, 40], [3e-4, 3e-4, 0]])
        moved = (h @ np.column_stack([points, np.ones(5)]).T).T
        after = head_pose([(x / w, y / w) for x, y, w in moved])
        assert (after.u, after.v) == pytest.approx((before.u, before.v), abs=1e-9)


def test_a_photo_turned_like_a_head_foreshortens_but_its_nose_stays() -> None:
    head_turned, photo_turned = head_pose(head(30)), head_pose(flat_picture(40))
    assert photo_turned.aspect < head_pose(head()).aspect * 0.85
    assert photo_turned.u == pytest.approx(0.5, abs=1e-9)
    assert head_turned.u - 0.5 > 0.25


def test_landmarks_that_give_no_pose() -> None:
    with pytest.raises(DegenerateLandmarks):
        head_pose([(0, 0)] * 4)
    assert try_head_pose([(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)]) is None
