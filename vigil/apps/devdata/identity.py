"""Identity sets: public face pictures of many people, several each, for threshold choice.

Builds ``OUT/<set>/<person>/*.jpg`` (`vigil devdata identity`, default
``/work/devdata/identity``) from local git snapshots of public repositories
(``MIRROR/<owner>+<name>/repo``, as snapshot.py reads them for `vigil devdata build`), each
at a pinned commit. Nothing here downloads anything, and nothing built goes into git:
the pictures' licences are mostly unstated (see docs/identity.md), so they stay outside.

Each source is pinned to a commit and says how a file's person is read. People with fewer
than two pictures are left out (no genuine pair). Every set also gets a ``SOURCE.txt`` naming
repository, commit, path and licence as stated, so a figure can always be traced.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vigil.apps.devdata.snapshot import Snapshot, SnapshotError, snapshot_dir
from vigil.core.errors import VigilError

PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")

Picture = tuple[str, str]  # (person, path inside the repository)


@dataclass(frozen=True)
class IdentitySource:
    """Where one identity set comes from and how its people are named."""

    set_name: str
    repo: str
    commit: str
    licence: str
    what: str
    pictures: Callable[[Snapshot], Iterator[Picture]]


def _pictures_under(under: str, person_of: Callable[[PurePosixPath], str]
                    ) -> Callable[[Snapshot], Iterator[Picture]]:
    def pictures(snapshot: Snapshot) -> Iterator[Picture]:
        for path in snapshot.files(under):
            if path.lower().endswith(PICTURE_SUFFIXES):
                yield person_of(PurePosixPath(path)), path
    return pictures


def _deepface_pictures(snapshot: Snapshot) -> Iterator[Picture]:
    """deepface's test pictures carry no names: people are the groups its ``master.csv``
    joins with "Yes" (same person) pairs."""
    rows = csv.DictReader(io.StringIO(snapshot.read("tests/dataset/master.csv").decode()))
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for row in rows:
        if row["Decision"].strip() == "Yes":
            parent[root(row["file_x"])] = root(row["file_y"])
    for name in sorted(parent):
        yield f"person_{PurePosixPath(root(name)).stem}", f"tests/dataset/{name}"


SOURCES: tuple[IdentitySource, ...] = (
    IdentitySource(
        "yywbxgl-office", "yywbxgl/face_detection", "ee8a9125c03c7222fe0e0acedd25bd746579c23e",
        "none stated", "640x480 frames captured from webcam videos of 9 people in one "
        "Chinese office (video_data/capture/<name>_<frame>.jpg)",
        _pictures_under("video_data/capture", lambda p: p.stem.rsplit("_", 1)[0])),
    IdentitySource(
        "krasserm-lfw", "krasserm/face-recognition", "363e4ec0f700e74b2ea7abceba289390d29dd43f",
        "repository Apache-2.0; pictures from LFW (research use)", "250x250 LFW photos, "
        "10 public figures x 10 (images/<name>/)",
        _pictures_under("images", lambda p: p.parent.name)),
    IdentitySource(
        "deepface-tests", "naaate-byte/deepface", "1a2521d722742cfa84aebe27dcbe04040cdf9f05",
        "repository MIT; photos of public figures", "deepface's test photos (a fork of "
        "serengil/deepface), people joined from tests/dataset/master.csv",
        _deepface_pictures),
)


def snapshot_of(source: IdentitySource, mirror: Path) -> Snapshot:
    """The source's snapshot in ``mirror`` at its commit, or an error saying what to fetch."""
    if not (snapshot_dir(mirror, source.repo) / "HEAD").is_file():
        raise SnapshotError(f"no snapshot of {source.repo} in {mirror}: run the fetch tool "
                            f"with github:{source.repo} first")
    try:
        return Snapshot.open(mirror, source.repo, source.commit)
    except SnapshotError as exc:
        raise SnapshotError(f"{source.repo}: commit {source.commit} is not in the "
                            "snapshot") from exc


def build_set(source: IdentitySource, mirror: Path, out: Path) -> dict[str, int]:
    """Write one set; returns pictures per person (people with one picture left out)."""
    snapshot = snapshot_of(source, mirror)
    by_person: dict[str, list[str]] = {}
    for person, path in source.pictures(snapshot):
        by_person.setdefault(person, []).append(path)
    kept = {person: sorted(paths) for person, paths in by_person.items() if len(paths) >= 2}
    target = out / source.set_name
    for person, paths in sorted(kept.items()):
        folder = target / person
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            (folder / PurePosixPath(path).name).write_bytes(snapshot.read(path))
    (target / "SOURCE.txt").write_text(
        f"repository: github {source.repo}\ncommit: {source.commit}\nlicence as stated: "
        f"{source.licence}\nwhat: {source.what}\npeople: {len(kept)}, pictures: "
        f"{sum(len(p) for p in kept.values())}\n")
    return {person: len(paths) for person, paths in kept.items()}


def build_identity_sets(mirror: Path, out: Path, only: tuple[str, ...] = ()
                        ) -> dict[str, dict[str, int]]:
    """Build every source (or those named in ``only``); returns counts per set and person."""
    unknown = set(only) - {s.set_name for s in SOURCES}
    if unknown:
        raise VigilError(f"no identity set named {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(s.set_name for s in SOURCES)}", exit_code=2)
    return {source.set_name: build_set(source, mirror, out)
            for source in SOURCES if not only or source.set_name in only}
