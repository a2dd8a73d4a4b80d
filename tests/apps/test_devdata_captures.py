"""`vigil devdata build` of numbered captures labelled by YOLO files, at a pinned commit."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.apps.test_devdata import _git
from vigil.apps.devdata.build import build_all, read_record
from vigil.apps.devdata.catalog import Captures, Source
from vigil.apps.devdata.snapshot import Snapshot

REPO = "acme/phones"
PHONE, WALLET, OTHER = 1, 2, 5


def _capture(grey: int) -> bytes:
    """A 64x64 capture (the export's stretch of a 64x48 webcam frame), all one grey."""
    return bytes(cv2.imencode(".png", np.full((64, 64, 3), grey, np.uint8))[1])


def _add(work: Path, split: str, number: int, grey: int, classes: list[int] | None) -> None:
    name = f"cap_{number}_png.rf.x{split}"
    images, labels = work / "export" / split / "images", work / "export" / split / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    (images / f"{name}.jpg").write_bytes(_capture(grey))
    if classes is not None:
        (labels / f"{name}.txt").write_text("".join(f"{c} 0.5 0.5 0.2 0.2\n" for c in classes))


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, str]:
    """Captures 0-14 hold a wallet, 15-29 a phone; 7 holds an unknown class, 8 has no label;
    3 is also in train (an augmented copy, ignored). A later commit deletes them all."""
    work = tmp_path / "mirror" / "acme+phones" / "repo"
    for number in range(30):
        classes = [PHONE, WALLET] if number >= 15 else [WALLET]
        if number == 7:
            classes = [OTHER]
        _add(work, "valid", number, grey=4 * number, classes=None if number == 8 else classes)
    _add(work, "train", 3, grey=250, classes=[PHONE])
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "captures")
    pinned = Snapshot.open(tmp_path / "mirror", REPO).commit
    _git(work, "rm", "-rq", "export")
    _git(work, "commit", "-qm", "deleted")
    return tmp_path / "mirror", pinned


def _source(revision: str) -> Source:
    return Source(
        name="acme", repo=REPO, licence="CC BY 4.0", about="made in a test", revision=revision,
        captures=(Captures(folders=("export/valid/images", "export/train/images"),
                           person="cat", frame_set="acme-desk", phone_classes=frozenset({PHONE}),
                           other_classes=frozenset({WALLET}), order=r"cap_(\d+)_",
                           size=(64, 48), session_frames=5),))


def test_captures_become_phone_and_no_phone_frames_and_5_frame_sessions(
        mirror: tuple[Path, str], tmp_path: Path) -> None:
    root, pinned = mirror
    out = tmp_path / "out"
    [outcome] = build_all(root, out, [_source(pinned)], progress=lambda _: None)
    assert outcome.status == "built"
    frames = out / "frames" / "acme-desk"
    phones = sorted(p.name for p in (frames / "phone").iterdir())
    assert phones == [f"cat-{n:05d}.jpg" for n in range(15, 30)]
    no_phone = sorted(p.name for p in (frames / "no_phone").iterdir())
    assert no_phone == [f"cat-{n:05d}.jpg" for n in range(15) if n not in (7, 8)]
    assert len(list((frames / "bona_fide").iterdir())) == 15 + 13
    three = cv2.imread(str(frames / "no_phone" / "cat-00003.jpg"))
    assert three.shape == (48, 64, 3)  # stretched back to the webcam's size
    assert abs(int(three.mean()) - 12) <= 2  # the valid copy, not train's grey 250

    sessions = out / "sessions" / "acme"
    assert sorted(p.name for p in (sessions / "enroll" / "cat").iterdir()) == [
        f"{n:05d}.jpg" for n in range(5)]
    [genuine] = sorted((sessions / "genuine").iterdir())
    assert sorted(p.name for p in genuine.iterdir()) == [
        f"{n:05d}.jpg" for n in (5, 6, 9, 10, 11)]  # 12-14 too few for a session
    phone_sessions = sorted(p.name for p in (sessions / "phone").iterdir())
    assert phone_sessions == ["cat.1", "cat.2", "cat.3"]

    record = read_record(out, "acme")
    assert record is not None and record.commit == pinned
    assert record.sessions == {"genuine": 1, "phone": 3}
    assert any("cap_7_" in entry and "[5]" in entry for entry in record.left_out)
    assert any("cap_8_" in entry for entry in record.left_out)


def test_head_without_the_captures_builds_nothing_from_them(
        mirror: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = mirror
    out = tmp_path / "out"
    [outcome] = build_all(root, out, [_source("HEAD")], progress=lambda _: None)
    assert outcome.built is not None and outcome.built.frames == {}
    assert not (out / "frames" / "acme-desk").exists()
