"""`vigil devdata build` on small git repositories made here (no fetched data, no broker)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.apps.bench.accuracy.dataset import load_labelled_set
from vigil.apps.cli import main
from vigil.apps.devdata.build import ENROLL_FRAMES, build_all, read_record
from vigil.apps.devdata.catalog import Clip, Pictures, Source, Stills
from vigil.apps.devdata.report import sources_markdown
from vigil.apps.devdata.snapshot import Snapshot

REPO = "acme/faces"


def _picture(seed: int, suffix: str = ".jpg") -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return bytes(cv2.imencode(suffix, image)[1])


def _video(path: Path, frames: int) -> None:
    """An MJPEG AVI whose frame i is filled with grey level 4*i (so order can be checked)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 4 * i, np.uint8))
    writer.release()


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t",
                    *args], check=True, capture_output=True)


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """MIRROR/acme+faces/repo: a git repository laid out as a liveness source."""
    work = tmp_path / "mirror" / "acme+faces" / "repo"
    for name, seed in (("real/a.jpg", 1), ("real/b.png", 2), ("fake/c.jpg", 3)):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(_picture(seed, Path(name).suffix))
    (work / "fake" / "same.jpg").write_bytes(_picture(9))
    (work / "real" / "same.jpg").write_bytes(_picture(9))  # contradicts itself: dropped
    (work / "real" / "notes.txt").write_text("not a picture")
    (work / "videos").mkdir()
    _video(work / "videos" / "live.avi", 40)
    _video(work / "videos" / "print.avi", 20)
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "data")
    return tmp_path / "mirror"


SOURCE = Source(
    name="acme", repo=REPO, licence="unstated", about="made in a test",
    pictures=(Pictures("real", "acme-mixed", ("bona_fide",), person="ann"),
              Pictures("fake", "acme-mixed", ("attack",))),
    clips=(Clip("videos/live.avi", "bob", "genuine", "acme-print", frames=8),
           Clip("videos/print.avi", "bob", "print", "acme-print", frames=8)))


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_pictures_keep_their_bytes_and_the_source_labels(mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    [outcome] = build_all(mirror, out, [SOURCE], progress=lambda _: None)
    assert outcome.status == "built"
    frames = out / "frames" / "acme-mixed"
    assert _names(frames / "bona_fide") == ["a.jpg", "b.png"]  # same.jpg dropped, txt ignored
    assert _names(frames / "attack") == ["c.jpg"]
    assert _names(frames / "identities" / "ann") == ["a.jpg", "b.png"]
    assert (frames / "attack" / "c.jpg").read_bytes() == _picture(3)
    labelled = load_labelled_set(frames)  # the format `vigil bench accuracy` reads
    assert labelled.count("bona_fide") == 2 and labelled.count("attack") == 1
    assert outcome.built is not None
    assert outcome.built.frames["acme-mixed"] == {"bona_fide": 2, "attack": 1, "identities": 2}
    assert any("same.jpg" in note for note in outcome.built.left_out)


def test_clips_become_frame_sets_and_sessions_in_capture_order(mirror: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_all(mirror, out, [SOURCE], progress=lambda _: None)
    frames = out / "frames" / "acme-print"
    assert len(_names(frames / "bona_fide")) == 8
    assert len(_names(frames / "attack")) == 8
    sessions = out / "sessions" / "acme"
    enroll = _names(sessions / "enroll" / "bob")
    genuine = _names(sessions / "genuine" / "bob.1")
    attack = _names(sessions / "attack" / "bob.print-1")
    # 10 fps source, about 5 kept a second: every 2nd frame; enroll frames come first.
    assert len(enroll) == ENROLL_FRAMES and len(genuine) == 20 - ENROLL_FRAMES
    assert len(attack) == 10
    assert max(enroll) < min(genuine)
    grey = [int(cv2.imread(str(sessions / "genuine" / "bob.1" / n)).mean()) for n in genuine]
    assert grey == sorted(grey) and grey[-1] - grey[0] > 50  # capture order, spread over the clip


def test_a_second_build_is_a_no_op_until_the_snapshot_changes(mirror: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_all(mirror, out, [SOURCE], progress=lambda _: None)
    first = read_record(out, "acme")
    [again] = build_all(mirror, out, [SOURCE], progress=lambda _: None)
    assert again.status == "up to date"
    work = mirror / "acme+faces" / "repo"
    (work / "fake" / "d.jpg").write_bytes(_picture(4))
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "more")
    [rebuilt] = build_all(mirror, out, [SOURCE], progress=lambda _: None)
    assert rebuilt.status == "built"
    assert first is not None and rebuilt.built is not None
    assert rebuilt.built.commit != first.commit
    assert _names(out / "frames" / "acme-mixed" / "attack") == ["c.jpg", "d.jpg"]


def test_sources_md_names_repository_commit_licence_and_counts(mirror: Path,
                                                               tmp_path: Path) -> None:
    outcomes = build_all(mirror, tmp_path / "out", [SOURCE], progress=lambda _: None)
    text = sources_markdown(outcomes, clip_frames=8, fps=5, max_frames=120, enroll=5)
    commit = Snapshot.open(mirror, REPO).commit
    assert f"https://github.com/{REPO}" in text and commit in text
    assert "| acme-mixed | acme | 2 | 1 | 0 | 0 | 2 |" in text
    assert "not committed" in text


def test_a_missing_snapshot_is_skipped_naming_the_fetch(tmp_path: Path) -> None:
    lines: list[str] = []
    [outcome] = build_all(tmp_path / "empty", tmp_path / "out", [SOURCE], progress=lines.append)
    assert outcome.built is None
    assert "github:acme/faces" in outcome.status and "github:acme/faces" in lines[0]
    assert not (tmp_path / "out" / "frames").exists()


def test_cli_exits_1_and_names_each_fetch_when_snapshots_are_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["devdata", "build", "--mirror", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "out"), "--only", "pourfard"])
    assert code == 1
    assert "github:pourfard/FaceAntiSpoofing" in capsys.readouterr().out
    assert "pourfard" in (tmp_path / "out" / "SOURCES.md").read_text()


def test_stills_per_person_enroll_first_and_session_in_capture_order(tmp_path: Path) -> None:
    """Frames named <person>_<index>: per person the lowest index enrolls, the rest (by index,
    not by name) are one genuine session; a person with one frame has no session. They are
    read at the pinned commit, though HEAD has since removed them."""
    work = tmp_path / "mirror" / "acme+office" / "repo"
    capture = work / "capture"
    capture.mkdir(parents=True)
    for name, seed in (("ann_100.jpg", 1), ("ann_900.jpg", 2), ("ann_1000.jpg", 3),
                       ("bob_100.jpg", 4), ("notes.txt", 0)):
        (capture / name).write_bytes(_picture(seed) if seed else b"text")
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "frames")
    pinned = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    _git(work, "rm", "-rq", "capture")
    _git(work, "commit", "-qm", "gone")
    source = Source(name="office", repo="acme/office", licence="unstated", about="test",
                    revision=pinned,
                    stills=(Stills("capture", r"(?P<person>[a-z]+)_(?P<index>\d+)\.jpg",
                                   "office-frames"),))
    out = tmp_path / "out"
    [outcome] = build_all(tmp_path / "mirror", out, [source], progress=lambda _: None)
    assert outcome.built is not None and outcome.built.commit == pinned
    sessions = out / "sessions" / "office"
    assert _names(sessions / "enroll" / "ann") == ["00100.jpg"]
    assert _names(sessions / "genuine" / "ann.1") == ["00900.jpg", "01000.jpg"]
    assert (sessions / "genuine" / "ann.1" / "00900.jpg").read_bytes() == _picture(2)
    assert not (sessions / "genuine" / "bob.1").exists()
    assert any("bob" in note for note in outcome.built.left_out)
    assert _names(out / "frames" / "office-frames" / "bona_fide") == [
        "ann-00900.jpg", "ann-01000.jpg"]
    assert outcome.built.sessions == {"genuine": 1}
