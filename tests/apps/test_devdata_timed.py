"""`vigil devdata build` of webcam frames named by capture time (the YOLO recipe's files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.apps.test_devdata import _git, _names, _picture
from vigil.apps.devdata.build import ENROLL_FRAMES, build_all
from vigil.apps.devdata.catalog import Pictures, Source, TimedFrames, TimedRun
from vigil.apps.devdata.timed import capture_time

REPO = "acme/recipe"
START = 1_710_000_000


def _stem(seconds: float) -> str:
    """The recipe's name for a frame taken at ``seconds``: str(time()) without its point."""
    whole, fraction = f"{seconds:.6f}".rstrip("0").split(".")
    return whole + (fraction or "0")


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """All/: ann live at 10 frames a second for 3 s, a 5 s pause, 1 s more of her; then bob
    (class 1, real) for 2 s, one frame of which the label file calls fake; then 1 s of a
    printed photo (class 0, fake)."""
    folder = tmp_path / "mirror" / "acme+recipe" / "repo" / "All"
    folder.mkdir(parents=True)
    frames = ([(START + i / 10, 1) for i in range(30)]
              + [(START + 8 + i / 10, 1) for i in range(10)]
              + [(START + 20 + i / 10, 0 if i == 3 else 1) for i in range(20)]
              + [(START + 30 + i / 10, 0) for i in range(10)])
    for n, (seconds, cls) in enumerate(frames):
        (folder / f"{_stem(seconds)}.jpg").write_bytes(_picture(n))
        (folder / f"{_stem(seconds)}.txt").write_text(f"{cls} 0.5 0.5 0.3 0.4\n")
    _git(folder.parent, "init", "-q")
    _git(folder.parent, "add", ".")
    _git(folder.parent, "commit", "-qm", "frames")
    return tmp_path / "mirror"


SOURCE = Source(
    name="recipe", repo=REPO, licence="unstated", about="made in a test",
    pictures=(Pictures("All", "recipe-print", ("attack",), first=_stem(START + 30),
                       yolo_class=0),
              Pictures("All", "recipe-print", ("bona_fide",), yolo_class=1, limit=5)),
    timed=(TimedFrames("All", (TimedRun("ann", _stem(START), _stem(START + 9.9)),
                               TimedRun("bob", _stem(START + 20), _stem(START + 21.9))),
                       yolo_class=1),))


def test_capture_time_names_sort_in_capture_order() -> None:
    assert capture_time("17405002302592201") == pytest.approx(1740500230.2592201)
    assert capture_time("171069579898984") == pytest.approx(1710695798.98984)
    assert sorted(["17106957991826158", "1710695799640998", "171069579898984"]) == [
        "171069579898984", "17106957991826158", "1710695799640998"]


def test_runs_become_sessions_at_5_fps_split_at_pauses_with_labels_checked(
        mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    [outcome] = build_all(mirror, out, [SOURCE], progress=lambda _: None)
    assert outcome.built is not None
    sessions = out / "sessions" / "recipe"
    # ann: 3 s at 10 fps -> 15 frames at 5 a second, 5 enroll; the 5 s pause starts a second
    # session (1 s -> 5 frames).
    assert len(_names(sessions / "enroll" / "ann")) == ENROLL_FRAMES
    assert len(_names(sessions / "genuine" / "ann.1")) == 15 - ENROLL_FRAMES
    assert len(_names(sessions / "genuine" / "ann.2")) == 5
    first = (sessions / "enroll" / "ann" / "00000.jpg").read_bytes()
    assert first == _picture(0)  # byte for byte, from the run's first frame
    assert (sessions / "genuine" / "ann.1" / "00000.jpg").read_bytes() == _picture(10)
    # bob: the frame his label file calls fake is left out and named.
    assert (sessions / "genuine" / "bob.1").is_dir()
    assert sum(1 for note in outcome.built.left_out if "label classes [0]" in note) == 1
    assert outcome.built.sessions == {"genuine": 3}
    # frame set: the fake frames from START+30 on (not bob's mislabelled one), 5 real evenly.
    frames = out / "frames" / "recipe-print"
    assert len(_names(frames / "attack")) == 10
    assert len(_names(frames / "bona_fide")) == 5


def test_an_attack_run_is_an_attack_session_enrolled_from_the_frames_it_names(
        mirror: Path, tmp_path: Path) -> None:
    # The printed photo (class 0, 10 frames a second from START+30): 0.6 s of it shown, the
    # 4 frames after it enroll the printed face.
    printed = TimedRun("poster", _stem(START + 30), _stem(START + 30.5), kind="print",
                       enroll_from=(_stem(START + 30.6), _stem(START + 30.9)))
    source = Source(name="recipe", repo=REPO, licence="unstated", about="made in a test",
                    timed=(TimedFrames("All", (printed,), yolo_class=0),))
    out = tmp_path / "out"
    [outcome] = build_all(mirror, out, [source], progress=lambda _: None)
    assert outcome.built is not None
    sessions = out / "sessions" / "recipe"
    assert not (sessions / "genuine").exists()
    # 6 frames at 10 fps thinned to 5 a second: 3, none taken for the enrollment.
    assert len(_names(sessions / "attack" / "poster.print-1")) == 3
    assert (sessions / "attack" / "poster.print-1" / "00000.jpg").read_bytes() == _picture(60)
    assert len(_names(sessions / "enroll" / "poster")) == 4
    assert (sessions / "enroll" / "poster" / "00000.jpg").read_bytes() == _picture(66)
    assert outcome.built.sessions == {"attack": 1}


def test_a_phone_run_is_a_phone_session_and_named_pictures_a_frame_set(
        mirror: Path, tmp_path: Path) -> None:
    # ann's first 1.5 s enroll her; then 1 s with a phone in hand (labelled by eye: declared).
    runs = (TimedRun("ann", _stem(START + 1.5), _stem(START + 2.9),
                     enroll_from=(_stem(START), _stem(START + 1.4))),
            TimedRun("ann", _stem(START + 8), _stem(START + 8.9), kind="phone"))
    named = (_stem(START + 8.2), _stem(START + 8.5))
    source = Source(name="recipe", repo=REPO, licence="unstated", about="made in a test",
                    pictures=(Pictures("All", "recipe-phone", ("phone",), names=named),),
                    timed=(TimedFrames("All", runs, yolo_class=1),))
    out = tmp_path / "out"
    [outcome] = build_all(mirror, out, [source], progress=lambda _: None)
    assert outcome.built is not None
    sessions = out / "sessions" / "recipe"
    assert len(_names(sessions / "enroll" / "ann")) == 15
    assert len(_names(sessions / "genuine" / "ann.1")) == 8  # 1.4 s at 5 a second
    assert len(_names(sessions / "phone" / "ann.phone-1")) == 5
    assert (sessions / "phone" / "ann.phone-1" / "00000.jpg").read_bytes() == _picture(30)
    assert (outcome.built.sessions["genuine"], outcome.built.sessions["phone"]) == (1, 1)
    assert _names(out / "frames" / "recipe-phone" / "phone") == [f"{n}.jpg" for n in named]


def test_a_run_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        TimedRun("ann", _stem(START), _stem(START + 1), kind="hologram")
