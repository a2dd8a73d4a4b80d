"""A tiny session set made from ../shared/testdata pictures, for the session bench's tests only.

Each session is one picture moved by a few pixels and lit a little differently from frame to
frame (never used to choose a default: see docs/sessions.md for the development data).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from processors.vision.imaging import encode_jpeg, read_image

# (dx, dy, gain) per frame: small head movements and light changes.
MOVES = ((0, 0, 1.0), (3, -2, 1.04), (-2, 3, 0.96), (4, 1, 1.08), (-3, -3, 0.93),
         (1, 4, 1.02), (-4, 2, 0.98), (2, -4, 1.05))
# A picture moved about by a hand: the face and its surroundings shift together, far.
HAND = ((0, 0, 1.0), (40, 12, 1.02), (5, -20, 0.98), (45, 8, 1.0), (0, 15, 1.03),
        (38, -10, 0.97), (-5, 10, 1.0), (35, 0, 1.02))


def moved(image: np.ndarray, dx: int, dy: int, gain: float) -> np.ndarray:
    """The picture shifted by (dx, dy) pixels (edges repeated) and scaled in brightness."""
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    out = cv2.warpAffine(image, shift, (image.shape[1], image.shape[0]),
                         borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def write_session(folder: Path, source: Path, frames: int = len(MOVES),
                  moves: tuple[tuple[int, int, float], ...] = MOVES) -> None:
    """``frames`` moved copies of ``source`` as 0000.jpg, 0001.jpg, ... in ``folder``."""
    folder.mkdir(parents=True)
    image = read_image(str(source))
    for index, (dx, dy, gain) in enumerate(moves[:frames]):
        (folder / f"{index:04d}.jpg").write_bytes(encode_jpeg(moved(image, dx, dy, gain), 92))


def make_session_set(testdata: Path, out: Path, hand_print: bool = False) -> Path:
    """Two people (the live webcam face of spoof/ and obama), a print and a screen attack
    on the first, and a phone session of the COCO woman holding a phone; with
    ``hand_print``, also the first person's own live picture moved about by a hand (a print
    passive liveness scores as live, which only the scene measure tells: challenges.on_flat)."""
    spoof, faces = testdata / "spoof", testdata / "faces"
    woman = testdata / "objects" / "coco_val2017_000000001296_face_phone.jpg"
    write_session(out / "enroll" / "t", spoof / "image_T1.jpg", 2)
    write_session(out / "enroll" / "obama", faces / "obama_1.jpg", 1)
    write_session(out / "enroll" / "woman", woman, 1)
    write_session(out / "genuine" / "t.1", spoof / "image_T1.jpg")
    write_session(out / "genuine" / "obama.1", faces / "obama_2.jpg")
    write_session(out / "attack" / "t.print-1", spoof / "image_F1.jpg")
    write_session(out / "attack" / "t.screen_replay-1", spoof / "image_F2.jpg")
    write_session(out / "phone" / "woman.1", woman)
    if hand_print:
        write_session(out / "attack" / "t.print-2", spoof / "image_T1.jpg", moves=HAND)
    return out
