"""`vigil devdata identity`: identity sets read from git snapshots at a pinned commit."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest

from vigil.apps.devdata.identity import (
    SOURCES,
    IdentitySource,
    _deepface_pictures,
    _pictures_under,
    build_set,
)
from vigil.apps.devdata.snapshot import SnapshotError


def snapshot(mirror: Path, files: dict[str, bytes]) -> str:
    """A repository ``owner+name/repo`` in ``mirror`` holding ``files``; its commit."""
    work = mirror / "owner+name" / "repo"
    work.mkdir(parents=True)
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pictures"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_people_with_two_pictures_are_written_with_their_source(tmp_path: Path) -> None:
    commit = snapshot(tmp_path / "mirror", {"images/ann/1.jpg": b"a1", "images/ann/2.jpg": b"a2",
                                            "images/bo/1.jpg": b"b1", "images/notes.txt": b"x"})
    source = IdentitySource("test-set", "owner/name", commit, "MIT", "two people",
                            _pictures_under("images", lambda p: p.parent.name))
    counts = build_set(source, tmp_path / "mirror", tmp_path / "out")
    assert counts == {"ann": 2}  # bo has one picture: no genuine pair
    assert (tmp_path / "out/test-set/ann/2.jpg").read_bytes() == b"a2"
    assert not (tmp_path / "out/test-set/bo").exists()
    assert f"commit: {commit}" in (tmp_path / "out/test-set/SOURCE.txt").read_text()


def test_deepface_people_are_the_groups_of_same_person_pairs(tmp_path: Path) -> None:
    csv = b"file_x,file_y,Decision\nimg1.jpg,img2.jpg,Yes\nimg2.jpg,img3.jpg,Yes\n" \
          b"img1.jpg,img4.jpg,No\nimg4.jpg,img5.jpg,Yes\n"
    files = {f"tests/dataset/img{i}.jpg": b"p" for i in range(1, 6)}
    commit = snapshot(tmp_path / "m", {**files, "tests/dataset/master.csv": csv})
    source = IdentitySource("d", "owner/name", commit, "MIT", "", _deepface_pictures)
    counts = build_set(source, tmp_path / "m", tmp_path / "o")
    assert sorted(counts.values()) == [2, 3]
    folders = {p.name: sorted(f.name for f in p.iterdir()) for p in (tmp_path / "o/d").iterdir()
               if p.is_dir()}
    assert sorted(folders.values()) == [["img1.jpg", "img2.jpg", "img3.jpg"],
                                        ["img4.jpg", "img5.jpg"]]


def test_a_missing_snapshot_or_commit_says_what_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="github:yywbxgl/face_detection"):
        build_set(SOURCES[0], tmp_path, tmp_path / "out")
    snapshot(tmp_path / "m", {"a.jpg": b"a"})
    other = IdentitySource("x", "owner/name", "0" * 40, "", "",
                           _pictures_under("", lambda p: PurePosixPath(p).stem))
    with pytest.raises(SnapshotError, match="is not in the snapshot"):
        build_set(other, tmp_path / "m", tmp_path / "out")
