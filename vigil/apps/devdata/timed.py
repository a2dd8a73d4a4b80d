"""Webcam frames named by their capture time, as genuine sessions of the people in them.

The YOLO anti-spoofing recipe's ``dataCollection.py`` saves each webcam frame as
``str(time())`` without its point (``17405002302592201.jpg`` is 1740500230.2592201 s): the
names give the capture order and the time between frames. A declared run (``first`` to
``last``) is one person live at the webcam; its frames, at most one per 1/``fps`` s slot of
capture time, become ``genuine/<person>.<k>/`` (a new session wherever the capture pauses
longer than ``max_gap_s``), the first ``enroll`` of a person's first run going to
``enroll/<person>/`` instead. A run of an attack kind (a printed face held to the webcam)
becomes ``attack/<person>.<kind>-<k>/`` the same way, and may name the frames its person
enrolls from (``enroll_from``); a run with a phone in use, ``phone/<person>.phone-<k>/``.
Frames are copied byte for byte; none go to a frame set (a source's frame sets are declared
with :class:`~vigil.apps.devdata.catalog.Pictures`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from vigil.apps.devdata.captures import label_beside, label_classes
from vigil.apps.devdata.catalog import GENUINE, TimedFrames, session_folder
from vigil.apps.devdata.media import MediaError, picture_size, write_file
from vigil.apps.devdata.snapshot import Snapshot

if TYPE_CHECKING:
    from vigil.apps.devdata.build import Built

SUFFIXES = (".jpg", ".jpeg", ".png")
_TIME_NAME = re.compile(r"\d{11,}")  # 10 digits of seconds, then at least one of fraction


def capture_time(stem: str) -> float:
    """Seconds since the epoch of a frame named ``str(time())`` without its point."""
    if not _TIME_NAME.fullmatch(stem):
        raise ValueError(f"not a capture-time name: {stem}")
    return float(f"{stem[:10]}.{stem[10:]}")


def build_timed(timed: TimedFrames, snapshot: Snapshot, staging: Path, built: Built,
                progress: Callable[[str], None], *, fps: float, max_frames: int,
                enroll: int) -> None:
    """Enrollment and genuine sessions of every run of ``timed``."""
    by_stem = {PurePosixPath(p).stem: p for p in snapshot.files(timed.folder)
               if p.lower().endswith(SUFFIXES) and _TIME_NAME.fullmatch(PurePosixPath(p).stem)}
    stems = sorted(by_stem)  # 10 digits of seconds first: name order is capture order
    root = staging / "sessions" / built.source
    sessions: dict[tuple[str, str], int] = {}
    enrolled: set[str] = set()

    def frames_in(first: str, last: str) -> list[str]:
        return [s for s in stems if first <= s <= last
                and _labelled(timed, by_stem[s], snapshot, built)]

    for run in timed.runs:
        frames = frames_in(run.first, run.last)
        progress(f"devdata: {built.source} run of {run.person} ({run.kind}): "
                 f"{len(frames)} frames")
        if not frames:
            built.left_out.append(f"{timed.folder}: run {run.first}..{run.last} (no frames)")
            continue
        if run.enroll_from is not None and run.person not in enrolled:
            enrolled.add(run.person)
            written = _write(snapshot, by_stem, frames_in(*run.enroll_from),
                             root / "enroll" / run.person, built)
            built.session("enroll", written)
        folder_of = session_folder(run.kind)
        for part in split_at_gaps(frames, timed.max_gap_s):
            kept = thinned(part, fps)
            if run.person not in enrolled:
                enrolled.add(run.person)
                _write(snapshot, by_stem, kept[:enroll], root / "enroll" / run.person, built)
                built.session("enroll", len(kept[:enroll]))
                kept = kept[enroll:]
            kept = kept[:max_frames]
            if not kept:
                continue
            k = sessions[run.person, run.kind] = sessions.get((run.person, run.kind), 0) + 1
            name = f"{run.person}.{k}" if run.kind == GENUINE else f"{run.person}.{run.kind}-{k}"
            built.session(folder_of, _write(snapshot, by_stem, kept, root / folder_of / name,
                                            built))


def split_at_gaps(stems: list[str], max_gap_s: float) -> list[list[str]]:
    """Consecutive frames, cut wherever the capture paused longer than ``max_gap_s``."""
    parts: list[list[str]] = []
    for stem in stems:
        if parts and capture_time(stem) - capture_time(parts[-1][-1]) <= max_gap_s:
            parts[-1].append(stem)
        else:
            parts.append([stem])
    return parts


def thinned(stems: list[str], fps: float) -> list[str]:
    """The first frame of each 1/``fps`` s slot of capture time, from the first frame on."""
    start = capture_time(stems[0])
    kept: list[str] = []
    last_slot = -1
    for stem in stems:
        slot = int((capture_time(stem) - start) * fps)
        if slot > last_slot:
            kept.append(stem)
            last_slot = slot
    return kept


def _labelled(timed: TimedFrames, path: str, snapshot: Snapshot, built: Built) -> bool:
    """Whether the source's own label agrees that the frame is of the declared class."""
    if timed.yolo_class is None:
        return True
    classes = set(label_classes(snapshot, label_beside(path)))
    if classes == {timed.yolo_class}:
        return True
    built.left_out.append(f"{path} (label classes {sorted(classes)} in a run of "
                          f"class {timed.yolo_class})")
    return False


def _write(snapshot: Snapshot, by_stem: dict[str, str], stems: list[str], folder: Path,
           built: Built) -> int:
    """Copy ``stems``' pictures into ``folder`` as 00000.jpg, 00001.jpg, ... in capture order;
    the count written (an unreadable picture is left out and named)."""
    written = 0
    for stem in stems:
        data = snapshot.read(by_stem[stem])
        try:
            built.size(*picture_size(data))
        except MediaError:
            built.left_out.append(by_stem[stem])
            continue
        write_file(folder / f"{written:05d}{PurePosixPath(by_stem[stem]).suffix.lower()}", data)
        written += 1
    return written

