"""Webcam frames saved in capture order, several people in one folder, as genuine sessions.

A source like yywbxgl's office capture keeps ``<person>_<index>.jpg``: every picture a live
person at the webcam, the index its place in that person's capture. Per person the first
``enroll`` frames go to ``sessions/<source>/enroll/<person>/``, the others, in index order, to
``genuine/<person>.1/`` and to ``frames/<set>/bona_fide/``, copied byte for byte. A person with
no frame left after enrollment is left out, and named.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from vigil.apps.devdata.catalog import Stills
from vigil.apps.devdata.media import MediaError, picture_size, write_file
from vigil.apps.devdata.snapshot import Snapshot

if TYPE_CHECKING:
    from vigil.apps.devdata.build import Built


def build_stills(stills: Stills, snapshot: Snapshot, staging: Path, built: Built,
                 progress: Callable[[str], None]) -> None:
    """Enrollment, one genuine session and bona fide frames per person of ``stills``."""
    people = _people(stills, snapshot)
    progress(f"devdata: {built.source} {len(people)} people's frames from {stills.folder}")
    frame_root = staging / "frames" / stills.frame_set
    session_root = staging / "sessions" / built.source
    for person, frames in sorted(people.items()):
        if len(frames) <= stills.enroll:
            built.left_out.append(f"{stills.folder}: {person} ({len(frames)} frames, none "
                                  f"left for a session after enrollment)")
            continue
        kept = {"enroll": 0, "genuine": 0}
        for number, (index, path) in enumerate(frames):
            data = snapshot.read(path)
            try:
                built.size(*picture_size(data))
            except MediaError:
                built.left_out.append(path)
                continue
            if number < stills.enroll:
                write_file(session_root / "enroll" / person / f"{index:05d}.jpg", data)
                kept["enroll"] += 1
                continue
            write_file(session_root / "genuine" / f"{person}.1" / f"{index:05d}.jpg", data)
            write_file(frame_root / "bona_fide" / f"{person}-{index:05d}.jpg", data)
            built.count(stills.frame_set, "bona_fide")
            kept["genuine"] += 1
        built.session("enroll", kept["enroll"])
        built.session("genuine", kept["genuine"])


def _people(stills: Stills, snapshot: Snapshot) -> dict[str, list[tuple[int, str]]]:
    """Each person's (index, path) pairs in capture order, from the file names."""
    matcher = re.compile(stills.pattern)
    people: dict[str, list[tuple[int, str]]] = {}
    for path in snapshot.files(stills.folder):
        found = matcher.fullmatch(PurePosixPath(path).name)
        if found:
            people.setdefault(found["person"], []).append((int(found["index"]), path))
    return {person: sorted(frames) for person, frames in people.items()}
