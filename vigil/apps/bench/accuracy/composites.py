"""Composite pictures for the development set: replays on a phone, phones beside faces, prints.

Every function is deterministic given its ``rng``. The phone is a real one: the white phone held
up in COCO val2017 image 1296 (../shared/testdata/objects), cut out with the hand that holds
it (an oval, feathered) and enlarged, so a phone detector has a real phone in a hand to find:
cut out along its body alone, YOLO11n found it in 3 of 21 composites; with the hand, in most
(measured, README "Accuracy and model choices"). Faces are placed using a face box the caller
gives (the builder finds it with a detector), never used as a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from processors.vision.imaging import Image
from processors.vision.results import BoxXYXY

FloatImage = npt.NDArray[np.float32]
SCENE_SIZE = (960, 720)  # width, height: 4:3 like a webcam, larger so letterboxing shrinks it
# The phone body in the original COCO val2017 000000001296 (427x640), x1, y1, x2, y2: read off
# the picture by eye, in agreement with YOLO11n's box (291, 143, 374, 278) there.
PHONE_BODY_1296 = (300, 142, 371, 280)
# The phone with the hands that hold it, right of the woman's face (YuNet: x 139-294).
PHONE_IN_HAND_1296 = (270, 100, 427, 440)
# Inside the body, the part above the holding fingers that a "screen" may cover (fractions).
SCREEN_INSET = (0.08, 0.05, 0.92, 0.62)


@dataclass(frozen=True)
class PhoneCutout:
    """A phone in hand: pixels, an alpha mask (oval, soft edge) and the phone body's box in
    the cut-out's pixels."""

    pixels: Image
    alpha: FloatImage
    body: tuple[float, float, float, float]


def cut_phone(source: Image, region: tuple[int, int, int, int] = PHONE_IN_HAND_1296,
              body: tuple[int, int, int, int] = PHONE_BODY_1296) -> PhoneCutout:
    """The phone of ``source`` with its hand (``region``), masked by a feathered oval."""
    x1, y1, x2, y2 = region
    pixels = np.ascontiguousarray(source[y1:y2, x1:x2])
    height, width = pixels.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 255, -1)
    alpha = np.asarray(cv2.GaussianBlur(mask, (0, 0), 3), np.float32) / np.float32(255.0)
    inside = (body[0] - x1, body[1] - y1, body[2] - x1, body[3] - y1)
    return PhoneCutout(pixels, alpha, (float(inside[0]), float(inside[1]), float(inside[2]),
                                       float(inside[3])))


def scale_phone(phone: PhoneCutout, height: int) -> PhoneCutout:
    """The cut-out enlarged (or shrunk) to ``height`` pixels, aspect kept."""
    factor = height / phone.pixels.shape[0]
    size = (max(1, round(phone.pixels.shape[1] * factor)), height)
    pixels = cv2.resize(phone.pixels, size, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.resize(phone.alpha, size, interpolation=cv2.INTER_LINEAR)
    x1, y1, x2, y2 = (v * factor for v in phone.body)
    return PhoneCutout(np.asarray(pixels, np.uint8), np.asarray(alpha, np.float32),
                       (x1, y1, x2, y2))


def paste(canvas: Image, phone: PhoneCutout, left: int, top: int) -> Image:
    """Alpha-blend ``phone`` onto a copy of ``canvas`` at (left, top), clipped to the canvas."""
    out = canvas.copy()
    height, width = phone.pixels.shape[:2]
    x1, y1 = max(0, left), max(0, top)
    x2, y2 = min(canvas.shape[1], left + width), min(canvas.shape[0], top + height)
    if x2 <= x1 or y2 <= y1:
        return out
    src = phone.pixels[y1 - top : y2 - top, x1 - left : x2 - left].astype(np.float32)
    alpha = phone.alpha[y1 - top : y2 - top, x1 - left : x2 - left, None]
    region = out[y1:y2, x1:x2].astype(np.float32)
    out[y1:y2, x1:x2] = np.clip(alpha * src + (1 - alpha) * region, 0, 255).astype(np.uint8)
    return out


def scene(background: Image, rng: np.random.Generator) -> Image:
    """A SCENE_SIZE background: a random crop of ``background``, slightly blurred (depth)."""
    width, height = SCENE_SIZE
    scale = max(width / background.shape[1], height / background.shape[0]) * rng.uniform(1, 1.4)
    big = cv2.resize(background, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    top = int(rng.integers(0, big.shape[0] - height + 1))
    left = int(rng.integers(0, big.shape[1] - width + 1))
    blurred = cv2.GaussianBlur(big[top : top + height, left : left + width], (0, 0), 1.5)
    return np.asarray(blurred, np.uint8)


def face_window(photo: Image, face: BoxXYXY, aspect: float, face_share: float) -> Image:
    """A crop of ``photo`` with width/height ``aspect`` where the face is ``face_share`` high."""
    face_h = face[3] - face[1]
    height = face_h / face_share
    width = height * aspect
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    left, top = round(cx - width / 2), round(cy - height / 2)
    pad = round(max(width, height))
    padded = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[top + pad : top + pad + round(height), left + pad : left + pad + round(width)]
    return np.ascontiguousarray(crop)


def screen_look(picture: Image, rng: np.random.Generator) -> Image:
    """What a phone screen filmed by a webcam adds: brighter, bluish, moire lines and glare."""
    height, width = picture.shape[:2]
    out = picture.astype(np.float32) * rng.uniform(1.05, 1.25) + 10
    out[..., 0] *= rng.uniform(1.03, 1.12)  # blue (BGR)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(3.0, 6.0)
    out += 8 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)[..., None]
    glare_x, glare_y = rng.uniform(0, width), rng.uniform(0, height)
    glare = np.exp(-(((xx - glare_x) ** 2 + (yy - glare_y) ** 2) / (0.3 * width * height)))
    out += 60 * glare[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def face_in_phone(photo: Image, face: BoxXYXY, phone: PhoneCutout, background: Image,
                  rng: np.random.Generator) -> Image:
    """A replay: the face photo filling the phone's "screen", the phone held up in a hand from
    the bottom of the picture (the face must stay large enough for a face detector)."""
    canvas = scene(background, rng)
    big = scale_phone(phone, round(SCENE_SIZE[1] * rng.uniform(0.6, 0.9)))
    height, width = big.pixels.shape[:2]
    bx1, by1, bx2, by2 = big.body
    sx1, sy1, sx2, sy2 = SCREEN_INSET
    x1, y1 = round(bx1 + sx1 * (bx2 - bx1)), round(by1 + sy1 * (by2 - by1))
    x2, y2 = round(bx1 + sx2 * (bx2 - bx1)), round(by1 + sy2 * (by2 - by1))
    window = face_window(photo, face, (x2 - x1) / (y2 - y1), rng.uniform(0.9, 1.0))
    screen = np.asarray(cv2.resize(window, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA),
                        np.uint8)
    pixels = big.pixels.copy()
    pixels[y1:y2, x1:x2] = screen_look(screen, rng)
    left = round((SCENE_SIZE[0] - width) / 2 + rng.uniform(-0.25, 0.25) * SCENE_SIZE[0])
    top = SCENE_SIZE[1] - height + round(rng.uniform(0, 0.1) * height)
    return paste(canvas, PhoneCutout(pixels, big.alpha, big.body), left, top)


def phone_beside_face(photo: Image, face: BoxXYXY, phone: PhoneCutout,
                      rng: np.random.Generator) -> Image:
    """A live face with a phone held up beside it (never over the face box)."""
    face_w, face_h = face[2] - face[0], face[3] - face[1]
    big = scale_phone(phone, max(8, round(face_h * rng.uniform(1.3, 1.8))))
    width = big.pixels.shape[1]
    gap = face_w * rng.uniform(0.1, 0.3)
    room = {"right": photo.shape[1] - face[2], "left": face[0]}
    sides = [side for side, free in room.items() if free >= width + gap]
    side = sides[int(rng.integers(len(sides)))] if sides else max(room, key=room.__getitem__)
    left = round(face[2] + gap) if side == "right" else round(face[0] - gap - width)
    centre = (face[1] + face[3]) / 2 + rng.uniform(-0.2, 0.2) * face_h
    top = round(centre - big.pixels.shape[0] * 0.4)
    return paste(photo, big, left, top)


def printed_photo(photo: Image, face: BoxXYXY, background: Image,
                  rng: np.random.Generator) -> Image:
    """A print attack: the photo on paper (dull, warm, halftone, texture, white border), held
    up to the camera at a slant."""
    window = face_window(photo, face, 0.75, rng.uniform(0.35, 0.55))
    paper = np.asarray(cv2.resize(window, (480, 640), interpolation=cv2.INTER_AREA), np.float32)
    paper = paper * rng.uniform(0.7, 0.85) + rng.uniform(20, 40)  # ink never black, paper grey
    paper *= np.array([rng.uniform(0.82, 0.92), rng.uniform(0.95, 1.0), 1.0], np.float32)
    yy, xx = np.mgrid[0:640, 0:480].astype(np.float32)
    paper += 7 * (np.sin(xx * 2.1) * np.sin(yy * 2.1))[..., None]  # halftone dots (moire)
    texture = rng.normal(0, 6, (640, 480)).astype(np.float32)
    paper += cv2.GaussianBlur(texture, (0, 0), 1.0)[..., None]  # paper grain
    paper = np.asarray(cv2.GaussianBlur(np.clip(paper, 0, 255), (0, 0), 0.8), np.float32)
    border = round(480 * rng.uniform(0.04, 0.08))
    sheet = cv2.copyMakeBorder(paper.astype(np.uint8), border, border, border, border,
                               cv2.BORDER_CONSTANT, value=(215, 228, 232))
    return place_slanted(np.asarray(sheet, np.uint8), scene(background, rng), rng)


def place_slanted(sheet: Image, canvas: Image, rng: np.random.Generator) -> Image:
    """``sheet`` warped by a small perspective tilt onto ``canvas``, about 70-90% of its height."""
    height = canvas.shape[0] * rng.uniform(0.7, 0.9)
    width = height * sheet.shape[1] / sheet.shape[0]
    cx = canvas.shape[1] / 2 + rng.uniform(-0.15, 0.15) * canvas.shape[1]
    cy = canvas.shape[0] / 2 + rng.uniform(-0.05, 0.05) * canvas.shape[0]
    tilt = rng.uniform(-0.08, 0.08) * width
    corners = np.array([[cx - width / 2 + tilt, cy - height / 2],
                        [cx + width / 2 - tilt, cy - height / 2 + abs(tilt) / 2],
                        [cx + width / 2 + tilt, cy + height / 2],
                        [cx - width / 2 - tilt, cy + height / 2 - abs(tilt) / 2]], np.float32)
    source = np.array([[0, 0], [sheet.shape[1], 0], [sheet.shape[1], sheet.shape[0]],
                       [0, sheet.shape[0]]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners)
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpPerspective(sheet, matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full(sheet.shape[:2], 255, np.uint8), matrix, size)
    out = canvas.copy()
    out[mask > 127] = warped[mask > 127]
    return out
