"""The head-turn development set: real head turns (and replays of them) as frames.

``vigil bench challenges --build --mirror MIRROR --data OUT`` reads each video below from its
repository snapshot (``fetch github:OWNER/NAME`` puts it under ``MIRROR/OWNER+NAME/repo``),
keeps about 8-10 frames a second, shrinks them to 640 px on the longer side (a webcam's
size) and writes ``OUT/<kind>/<set>/NNNNN.jpg`` (NNNNN: the frame's number in the video), with
``OUT/SOURCES.md`` citing each. Nothing of it is committed: the licences are unstated.

The turns inside each genuine video are labelled by eye in :data:`TURNS` (first and last
frame of one turn from a frontal face and back, and the side the person turned to, their own
left or right), from contact sheets of the frames; the labels never come from a model.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2

MAX_SIDE = 640


@dataclass(frozen=True)
class Video:
    repo: str  # owner/name on GitHub
    path: str  # in the repository
    kind: str  # genuine, screen_replay, phone_replay
    name: str  # the set's folder name
    every: int  # keep every n-th frame
    holds: str  # what it shows, as seen


VIDEOS = (
    Video("tranvanluyt2203/face_anti_spoofing", "videos/real.mp4", "genuine", "luyt.1", 3,
          "a young man filmed with a phone (368x656, 30 fps) turning his head both ways and "
          "nodding"),
    Video("tranvanluyt2203/face_anti_spoofing", "videos/fake.mp4", "screen_replay",
          "luyt.screen_replay-1", 3, "his video playing on a screen, filmed again: a replay "
          "of a real head turn"),
    Video("ZubairCracksCode/anit-spoofing", "videos/real.mov", "genuine", "zubair.1", 2,
          "a man at a laptop webcam (960x540, 15 fps) turning his head both ways"),
    Video("ZubairCracksCode/anit-spoofing", "videos/fake.mp4", "phone_replay",
          "zubair.phone_replay-1", 2, "a phone replaying his video, held to the webcam"),
    Video("Krzysiek354/Python_Face_Detection", "videos/real.mp4", "genuine", "krzysiek.1", 2,
          "a man at home (1920x1080, 16 fps) turning his head both ways"),
)


def snapshot(mirror: Path, repo: str) -> Path:
    return mirror / repo.replace("/", "+") / "repo"


def _commit(git_dir: Path) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _frames(video: Video, git_dir: Path, out: Path) -> int:
    data = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{video.path}"],
                          capture_output=True, check=True).stdout
    out.mkdir(parents=True, exist_ok=True)
    kept = 0
    with tempfile.NamedTemporaryFile(suffix=Path(video.path).suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        capture = cv2.VideoCapture(tmp.name)
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % video.every == 0:
                scale = min(1.0, MAX_SIDE / max(frame.shape[:2]))
                if scale < 1.0:
                    frame = cv2.resize(frame, None, fx=scale, fy=scale,
                                       interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(out / f"{index:05d}.jpg"), frame,
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
                kept += 1
            index += 1
        capture.release()
    return kept


def build(mirror: Path, out: Path) -> list[str]:
    """Write every video's frames and SOURCES.md; returns the lines of SOURCES.md."""
    lines = ["# Head-turn development set (issue 19)", "",
             "Built by `vigil bench challenges --build --mirror MIRROR --data OUT` "
             "(vigil/apps/bench/challenges/headturn_data.py). Licences: unstated in every "
             "repository below (no LICENSE file), so the frames stay outside git.", "",
             "| set | kind | repository | commit | video | frames kept | what it shows |",
             "|---|---|---|---|---|---:|---|"]
    for video in VIDEOS:
        git_dir = snapshot(mirror, video.repo)
        if not git_dir.exists():
            lines.append(f"| {video.name} | {video.kind} | {video.repo} | (snapshot missing: "
                         f"skipped) | {video.path} | 0 | {video.holds} |")
            continue
        kept = _frames(video, git_dir, out / video.kind / video.name)
        lines.append(f"| {video.name} | {video.kind} | https://github.com/{video.repo} | "
                     f"{_commit(git_dir)[:12]} | {video.path} (every {video.every}) | {kept} | "
                     f"{video.holds} |")
    lines += ["", "Turns in the genuine videos are labelled by eye in headturn_data.TURNS."]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n")
    return lines


@dataclass(frozen=True)
class Turn:
    """One head turn in a genuine video, labelled by eye: frames ``first`` to ``last`` (their
    numbers in the video) go from a frontal face, through the turn, back to frontal."""

    set: str
    first: int
    last: int
    nose_to: str  # the picture's side the nose turned to: "right" or "left"


# Labelled from contact sheets of the kept frames (2026-12-05). In frames as a webcam gives
# them (not mirrored), the nose to the picture's right is a turn to the person's own left.
TURNS = (
    Turn("luyt.1", 48, 180, "right"),
    Turn("luyt.1", 210, 330, "left"),
    Turn("zubair.1", 70, 100, "right"),
    Turn("zubair.1", 100, 140, "left"),
    Turn("zubair.1", 140, 182, "right"),
    Turn("krzysiek.1", 26, 48, "right"),
    Turn("krzysiek.1", 48, 90, "left"),
)
