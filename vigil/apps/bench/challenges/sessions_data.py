"""Head-turn sessions for `vigil bench sessions`: ``DIR/headturn/`` of a session set.

``vigil bench challenges --to-sessions DIR...`` writes, in each session set that enrolls a
person (``DIR/enroll/<person>/``):

- ``headturn/<person>.<k>/``: the person's genuine session when it is one of the head-turn
  videos (headturn_data.TURNS labels their turns), the same frames (hard links): these people
  turn their heads both ways, and whatever a challenge asks, the recorded frames answer it or
  not, as they are. Genuine sessions of people who never turn are not head-turn sessions;
- ``headturn/<person>.<kind>-<k>/``: the set's replay attacks (``attack/*replay*``), the same
  frames;
- ``headturn/<person>.flat_<motion>-<k>/``: the person's first enrollment photo as a flat
  picture moved before the camera (flat.motions: turned, turned and slid, tilted, slid,
  rotated; ``k`` 1 to one side, 2 to the other), each pose held for ``HOLD`` frames of a
  capture at ``CAPTURE_FPS`` (the sets' rate: run the bench with ``--capture-fps 5``).

The session bench asks each of them a challenge at its start, once per challenge kind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from processors.vision.imaging import encode_jpeg, read_image
from vigil.apps.bench.challenges.flat import motions, view_of
from vigil.apps.bench.challenges.headturn_data import TURNS
from vigil.apps.bench.sessions.layout import ENROLL, HEADTURN, frames_in

CAPTURE_FPS = 5  # the session sets keep about 5 frames a second (vigil devdata build)
HOLD = 3  # frames per pose: 0.6 s, so a client at 2 frames a second sees each pose
FLAT_NAMES = {"turned": "flat_turned", "turned+slid": "flat_turned_slid",
              "tilted": "flat_tilted", "slid": "flat_slid", "rotated": "flat_rotated"}


def _linked(frames: list[Path], out: Path) -> None:
    out.mkdir(parents=True)
    for frame in frames:
        os.link(frame, out / frame.name)


def _flat(photo: Path, out: Path, motion: str, towards: float) -> None:
    out.mkdir(parents=True)
    picture = read_image(str(photo))
    index = 0
    for view in motions(towards)[motion]:
        frame = encode_jpeg(view_of(picture, view), 92)
        for _ in range(HOLD):
            (out / f"{index:04d}.jpg").write_bytes(frame)
            index += 1


def write_headturn_sessions(root: Path) -> list[str]:
    """(Re)write ``root/headturn/``; returns one line per session written."""
    target = root / HEADTURN
    if target.exists():
        shutil.rmtree(target)
    written = []
    for person_dir in sorted((root / ENROLL).glob("*")):
        person = person_dir.name
        photos = frames_in(person_dir) if person_dir.is_dir() else []
        if not photos:
            continue
        turning = {turn.set for turn in TURNS}
        sources = [*sorted(p for p in (root / "genuine").glob(f"{person}.*") if p.name in turning),
                   *sorted((root / "attack").glob(f"{person}.*replay*"))]
        for folder in sources:
            _linked(frames_in(folder), target / folder.name)
            written.append(f"{root.name}: {HEADTURN}/{folder.name} (frames of "
                           f"{folder.parent.name}/{folder.name})")
        for motion, name in FLAT_NAMES.items():
            for k, towards in ((1, 1.0), (2, -1.0)):
                _flat(photos[0], target / f"{person}.{name}-{k}", motion, towards)
                written.append(f"{root.name}: {HEADTURN}/{person}.{name}-{k} ({photos[0].name} "
                               f"{motion}, side {k})")
    return written
