"""Flat pictures moved as an attacker would: a photo as a plane before the camera, turned,
tilted, slid or rotated, each view made by the homography of that plane (a pinhole camera of
focal length ``FOCAL`` px, the photo filling the 640x480 frame when it faces the camera).

A real 3D effect cannot come from a plane: whatever these motions do to the picture, the five
landmarks of the face in it keep their projective coordinates (processors/decide/head_pose.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from processors.vision.imaging import Image, letterbox

WIDTH, HEIGHT = 640, 480
FOCAL = 800.0  # px: a webcam's field of view (about 44 degrees across 640 px)


@dataclass(frozen=True)
class PlaneView:
    """One pose of the photo: turned about its vertical axis (yaw), tilted about its
    horizontal axis (pitch), rotated in its plane (roll), all in degrees, and slid (px)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    slide: float = 0.0


def _rotation(view: PlaneView) -> np.ndarray:
    a, b, c = (math.radians(v) for v in (view.yaw, view.pitch, view.roll))
    yaw = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    roll = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return yaw @ pitch @ roll


def plane_homography(view: PlaneView) -> np.ndarray:
    """Frame pixels of the facing photo -> frame pixels of the photo in this pose."""
    k = np.array([[FOCAL, 0, WIDTH / 2], [0, FOCAL, HEIGHT / 2], [0, 0, 1]])
    r = _rotation(view)
    t = np.array([view.slide, 0.0, FOCAL])  # the photo's centre, FOCAL px from the camera
    to_plane = np.array([[1, 0, -WIDTH / 2], [0, 1, -HEIGHT / 2], [0, 0, 1]])
    h = k @ np.column_stack([r[:, 0], r[:, 1], t]) @ to_plane
    return np.asarray(h / h[2, 2])


def view_of(photo: Image, view: PlaneView) -> Image:
    """The 640x480 frame the camera sees of the photo in this pose (grey around it)."""
    frame = letterbox(photo, (WIDTH, HEIGHT))
    return np.asarray(cv2.warpPerspective(frame, plane_homography(view), (WIDTH, HEIGHT),
                                          borderValue=(128, 128, 128)), dtype=np.uint8)


def _there_and_back(peak: float, steps: int = 4, hold: int = 2) -> list[float]:
    out = [peak * i / steps for i in range(1, steps + 1)]
    return [0.0, 0.0, *out, *[peak] * (hold - 1), *reversed(out[:-1]), 0.0, 0.0]


def motions(towards: float) -> dict[str, list[PlaneView]]:
    """The attacks, each a sequence of views; ``towards`` (+1 or -1) is the side the picture
    is moved to, so each is tried both ways."""
    s = towards
    return {
        "turned": [PlaneView(yaw=s * a) for a in _there_and_back(40)],
        "turned+slid": [PlaneView(yaw=s * a, slide=s * 3 * a) for a in _there_and_back(35)],
        "tilted": [PlaneView(pitch=s * a) for a in _there_and_back(35)],
        "slid": [PlaneView(slide=s * d) for d in _there_and_back(150)],
        "rotated": [PlaneView(roll=s * a, yaw=s * a / 2) for a in _there_and_back(25)],
    }
