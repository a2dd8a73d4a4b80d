"""Does the scene around a face move with it? A flat picture's face is painted on its scene.

A real face in front of a webcam moves against the room behind it: the wall, the chair and
the shelf stay where they were while the head turns or leans. A printed photo (or a phone or
monitor) held to the camera carries its surroundings with it: when the hand moves, the paper
around the face and the face on it move as one plane. So the face stage keeps, per client, a
small grey copy of the last frame with a face, and on the next frame of the same session
measures two things (both in face sizes, the box's larger side):

- ``motion``: how far the face's five landmarks moved;
- ``residual``: how far they are from where the surroundings' motion puts them. Corner
  features are tracked (pyramidal Lucas-Kanade) in a ring around the face (from 1.15 to 2.6
  box sizes), a homography fitted to them (RANSAC), and the landmarks mapped through it.

A flat picture moved has a large ``motion`` and a small ``residual``; a real face that moves
has a residual about as large as its motion (the room did not follow), one that does not
move has neither. The decide stage counts flat pairs and may ask a head-turn challenge
(``challenges.on_flat``, processors/decide/challenge_policy.py); the numbers came from the
development sessions (docs/accuracy.md, "Printed photos, round 2").

The state is an LRU of ``scene_motion_clients`` entries kept in memory only, each a 320x240
grey copy of one frame (77 KB), replaced by the client's next frame and useless after
``scene_motion_max_gap_ms``: a forgotten client (or one whose partition moved) only means
no measure on its next frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from processors.client_memory import ClientMemory
from processors.verdict import main_face
from processors.vision.imaging import Image, grey_small
from schemas.events import FaceResult, SceneMovement
from vigil.core.settings import Settings

# The copy kept: half of a 640x480 webcam frame each way (a frame of another shape is squeezed
# to it; both measures are in face sizes, so the squeeze hardly moves them).
GREY_W, GREY_H = 320, 240
RING_INNER, RING_OUTER = 1.15, 2.6  # the ring around the face, in box sizes
MAX_CORNERS = 200
MIN_TRACKED = 8  # fewer tracked ring features than this: no homography, no measure
RANSAC_PX = 1.5  # inlier distance at 320x240 (3 px at 640x480)
# A homography fits at least this share of the tracked ring features, or it says nothing: two
# unrelated pictures in a row fit 4-10 of 18-135 (tracking found noise), the pairs of the
# development print 0.56-0.85 (a scene that moved, in one piece or two).
MIN_INLIERS = 0.25

Grey = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SceneView:
    """One frame as the measure needs it: a small grey copy, and the main face on it (box and
    landmarks in the copy's pixels)."""

    grey: Grey
    box: tuple[float, float, float, float]
    landmarks: Points
    session_id: str
    at_ms: int

    @property
    def size(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(x2 - x1, y2 - y1, 1.0)


@dataclass(frozen=True)
class Movement:
    """How far the face moved between two frames, and how far from where the scene's motion
    puts it (both in face sizes)."""

    motion: float
    residual: float


def grey_copy(image: Image) -> Grey:
    """The small grey copy of a frame the tracker keeps (area average)."""
    return grey_small(image, (GREY_W, GREY_H))


def scene_view(grey: Grey, frame_size: tuple[int, int], box: Sequence[float],
               landmarks: Sequence[Sequence[float]], session_id: str, at_ms: int) -> SceneView:
    """A frame's grey copy with its face (box and landmarks in the frame's pixels, the frame
    ``frame_size`` = (width, height)) scaled onto it."""
    sx, sy = GREY_W / frame_size[0], GREY_H / frame_size[1]
    x1, y1, x2, y2 = box
    points = np.array([(x * sx, y * sy) for x, y in landmarks], dtype=np.float32)
    return SceneView(grey, (x1 * sx, y1 * sy, x2 * sx, y2 * sy), points, session_id, at_ms)


def ring_mask(view: SceneView) -> Grey:
    """255 in the ring around the face (between RING_INNER and RING_OUTER box sizes)."""
    mask = np.zeros(view.grey.shape, dtype=np.uint8)
    x1, y1, x2, y2 = view.box
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    for scale, value in ((RING_OUTER, 255), (RING_INNER, 0)):
        top_left = (int(max(0, cx - w * scale / 2)), int(max(0, cy - h * scale / 2)))
        bottom_right = (int(min(GREY_W - 1, cx + w * scale / 2)),
                        int(min(GREY_H - 1, cy + h * scale / 2)))
        cv2.rectangle(mask, top_left, bottom_right, value, -1)
    return mask


def measure(before: SceneView, after: SceneView) -> Movement | None:
    """The face's motion and its residual against the ring's homography; None when the ring
    has too few trackable features (a blank wall) or no homography fits a quarter of them."""
    if len(before.landmarks) != len(after.landmarks) or not len(before.landmarks):
        return None
    motion = float(np.linalg.norm(after.landmarks - before.landmarks, axis=1).mean()
                   / before.size)
    corners = cv2.goodFeaturesToTrack(before.grey, MAX_CORNERS, 0.01, 3, mask=ring_mask(before))
    if corners is None or len(corners) < MIN_TRACKED:
        return None
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(before.grey, after.grey, corners,
                                                  corners.copy(), winSize=(15, 15), maxLevel=3)
    found = status.ravel() == 1
    if found.sum() < MIN_TRACKED:
        return None
    homography, inliers = cv2.findHomography(corners[found], tracked[found], cv2.RANSAC,
                                             RANSAC_PX)
    if homography is None or inliers.sum() < max(MIN_TRACKED, MIN_INLIERS * found.sum()):
        return None
    carried = cv2.perspectiveTransform(before.landmarks.reshape(-1, 1, 2), homography)
    residual = float(np.linalg.norm(after.landmarks - carried.reshape(-1, 2), axis=1).mean()
                     / before.size)
    return Movement(motion, residual)


class SceneTracker:
    """Per client, the last frame with a face (see the module docstring)."""

    def __init__(self, max_gap_ms: int, clients: int) -> None:
        self.max_gap_ms = max_gap_ms
        self._last: ClientMemory[SceneView] = ClientMemory(clients)

    @classmethod
    def from_settings(cls, settings: Settings) -> SceneTracker:
        p = settings.processors
        return cls(p.scene_motion_max_gap_ms, p.scene_motion_clients)

    @property
    def enabled(self) -> bool:
        return self.max_gap_ms > 0 and self._last.limit > 0

    def __len__(self) -> int:
        return len(self._last)

    def step(self, client_id: str, view: SceneView | None) -> Movement | None:
        """The movement since the client's last frame with a face (None: none recent, another
        session, or no measure), remembering ``view``; a frame without a face (None) forgets
        the client's last, so a measure never spans a frame the face left."""
        if not self.enabled:
            return None
        last = self._last.forget(client_id)
        if view is None:
            return None
        self._last.remember(client_id, view)
        if (last is None or last.session_id != view.session_id
                or not 0 < view.at_ms - last.at_ms <= self.max_gap_ms):
            return None
        return measure(last, view)


def with_scene(tracker: SceneTracker, result: FaceResult, grey: Grey,
               frame_size: tuple[int, int]) -> FaceResult:
    """``result`` with its main face's movement since the client's last frame (``scene``),
    the tracker remembering this frame (its ``grey_copy``, ``frame_size`` = (width, height));
    ``result`` itself when there is no measure."""
    if not tracker.enabled:
        return result
    main = main_face(result.faces)
    view = None if main is None else scene_view(
        grey, frame_size, (main.box.x1, main.box.y1, main.box.x2, main.box.y2),
        main.landmarks, result.session_id, result.captured_at)
    moved = tracker.step(result.client_id, view)
    if moved is None:
        return result
    scene = SceneMovement(motion=moved.motion, residual=moved.residual)
    return result.model_copy(update={"scene": scene})
