"""Landmarks of a synthetic head turning (a pinhole view of 5 points in 3D) and of a flat
picture of it turned (the frontal view through a homography), for the challenge tests.

A coarse 3D face in millimetres, the camera looking along +z, the face 600 mm away facing it:
the person's right eye is on the picture's left, the nose tip stands 30 mm towards the camera.
"""

from __future__ import annotations

import math

import numpy as np

FACE_3D = np.array([(-32.0, -35.0, 0.0), (32.0, -35.0, 0.0), (0.0, 0.0, -30.0),
                    (-25.0, 35.0, -8.0), (25.0, 35.0, -8.0)])
FOCAL, CENTRE, DISTANCE = 600.0, (320.0, 240.0), 600.0


def _project(points: np.ndarray) -> list[tuple[float, float]]:
    z = points[:, 2] + DISTANCE
    return [(CENTRE[0] + FOCAL * x / d, CENTRE[1] + FOCAL * y / d)
            for (x, y, _), d in zip(points, z, strict=True)]


def head(yaw_deg: float = 0.0, pitch_deg: float = 0.0, shift_x: float = 0.0
         ) -> list[tuple[float, float]]:
    """A real head: positive yaw turns it to the person's own left (nose to the picture's
    right), positive pitch lifts the chin; shift_x moves it sideways (mm)."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    yaw = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    return _project(FACE_3D @ (yaw @ pitch).T + np.array([shift_x, 0.0, 0.0]))


def flat_picture(yaw_deg: float = 0.0, shift_x: float = 0.0) -> list[tuple[float, float]]:
    """A photo of the frontal head, held up and turned about its vertical axis by yaw_deg."""
    frontal = np.array(head())
    # The photo: the frontal view laid on a plane, 1 px = 1 mm, centred; then that plane turned.
    plane = np.column_stack([frontal - np.array(CENTRE), np.zeros(len(frontal))])
    a = math.radians(yaw_deg)
    turn = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    return _project(plane @ turn.T + np.array([shift_x, 0.0, 0.0]))
