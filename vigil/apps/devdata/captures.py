"""Numbered webcam captures labelled by a YOLO export's files: frame sets and sessions.

A source that committed its Roboflow/YOLO export of webcam captures (``opencv_frame_<n>``
and the like) gives, per picture, what the person held (the label file's class ids) and, by
the capture numbers, the order the pictures were taken in. Pictures with a phone class go to
``frames/<set>/phone`` (and ``bona_fide``: a live person), the others to ``no_phone`` (and
``bona_fide``). Runs of consecutive captures with one label are cut into sessions of
``session_frames`` frames (a 5-second window at 2 frames a second): ``phone/<person>.<k>/``
and ``genuine/<person>.<k>/``; a shorter remainder is left out, and the first ``enroll``
no-phone captures enroll the person instead of joining a session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vigil.apps.devdata.catalog import Captures
from vigil.apps.devdata.media import MediaError, encode_jpeg, picture_size, write_file
from vigil.apps.devdata.snapshot import Snapshot, SnapshotError

if TYPE_CHECKING:
    from vigil.apps.devdata.build import Built

SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Capture:
    """One labelled capture: its number, its picture's path and whether a phone is held."""

    number: int
    path: str
    phone: bool


def build_captures(captures: Captures, snapshot: Snapshot, staging: Path, built: Built, *,
                   enroll: int) -> None:
    """Write the frame set and the sessions of ``captures`` into ``staging``."""
    labelled = _labelled(captures, snapshot, built)
    pictures: dict[int, bytes] = {}
    for capture in labelled:
        try:
            pictures[capture.number] = _picture(snapshot.read(capture.path), captures.size)
        except MediaError as exc:
            built.left_out.append(f"{capture.path} ({exc.message})")
    taken = [c for c in labelled if c.number in pictures]
    if not taken:
        return
    frame_root = staging / "frames" / captures.frame_set
    session_root = staging / "sessions" / built.source
    for capture in taken:
        data = pictures[capture.number]
        labels = ("bona_fide", "phone" if capture.phone else "no_phone")
        for label in labels:
            write_file(frame_root / label / f"{captures.person}-{capture.number:05d}.jpg", data)
            built.count(captures.frame_set, label)
    width, height = captures.size or picture_size(pictures[taken[0].number])
    built.size(width, height, len(taken))
    enrolled = [c for c in taken if not c.phone][:enroll]
    for capture in enrolled:
        write_file(session_root / "enroll" / captures.person / f"{capture.number:05d}.jpg",
                   pictures[capture.number])
    if enrolled:
        built.session("enroll", len(enrolled))
    rest = [c for c in taken if c not in enrolled]
    numbers = {"phone": 0, "genuine": 0}
    for folder, session in _sessions(rest, captures.session_frames):
        numbers[folder] += 1
        for capture in session:
            write_file(session_root / folder / f"{captures.person}.{numbers[folder]}"
                       / f"{capture.number:05d}.jpg", pictures[capture.number])
        built.session(folder, len(session))


def _labelled(captures: Captures, snapshot: Snapshot, built: Built) -> list[Capture]:
    """Every capture with a usable label, one per capture number, in capture order.

    A number seen in several folders (an export's augmented copies) is taken from the first
    folder that has it; a picture without a label file, or whose classes are neither a phone
    nor only ``other_classes``, is left out and named.
    """
    order = re.compile(captures.order)
    found: dict[int, Capture] = {}
    for folder in captures.folders:
        for path in sorted(snapshot.files(folder)):
            if not path.lower().endswith(SUFFIXES):
                continue
            match = order.search(PurePosixPath(path).name)
            if match is None:
                built.left_out.append(f"{path} (no capture number)")
                continue
            number = int(match.group(1))
            if number in found:
                continue
            classes = set(label_classes(snapshot, _label_path(path)))
            if classes & captures.phone_classes:
                found[number] = Capture(number, path, phone=True)
            elif classes and classes <= captures.other_classes:
                found[number] = Capture(number, path, phone=False)
            else:
                built.left_out.append(f"{path} (label classes {sorted(classes)})")
    return [found[n] for n in sorted(found)]


def _label_path(image_path: str) -> str:
    path = PurePosixPath(image_path)
    parts = list(path.parent.parts)
    parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    return str(PurePosixPath(*parts, path.stem + ".txt"))


def label_classes(snapshot: Snapshot, label_path: str) -> Iterator[int]:
    """The class ids of a YOLO label file (none when the file is absent)."""
    try:
        text = snapshot.read(label_path).decode()
    except SnapshotError:  # no label file: the picture is left out
        return
    for line in text.splitlines():
        if line.strip():
            yield int(line.split()[0])


def label_beside(picture_path: str) -> str:
    """The YOLO label file the recipe's collection script saves beside a picture."""
    return str(PurePosixPath(picture_path).with_suffix(".txt"))


def _picture(data: bytes, size: tuple[int, int] | None) -> bytes:
    """The picture as a webcam sent it: resized back to ``size`` when the export stretched it."""
    if size is None:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise MediaError("not a decodable picture")
    return encode_jpeg(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def _sessions(taken: list[Capture], length: int) -> Iterator[tuple[str, list[Capture]]]:
    """Runs of consecutive captures with one label, cut into sessions of ``length``."""
    run: list[Capture] = []
    for capture in [*taken, None]:
        if capture is not None and (not run or run[-1].phone == capture.phone):
            run.append(capture)
            continue
        for start in range(0, len(run) - length + 1, length):
            yield ("phone" if run[0].phone else "genuine"), run[start:start + length]
        run = [capture] if capture is not None else []
