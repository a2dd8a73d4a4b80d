"""`vigil bench challenges`: how often head-turn challenges pass real turns and refuse flat
pictures, judged exactly as the decide stage judges them (processors/decide/turn_check.py) on
the landmarks of the configured YuNet face detector.

- **Real turns**: each turn labelled in headturn_data.TURNS, asked the way the person turned
  (it should pass) and the other way (it should not).
- **Replays**: each replay video of the head-turn set, whole, asked both ways. A replay of a
  real head turn shows real 3D geometry: the turn check is not meant to stop it (passive
  liveness is); the figures say how often a random direction does.
- **Flat pictures**: each photo, moved as flat.motions() says (turned, turned and slid,
  tilted, slid, rotated), both ways, asked both ways.

A trial passes, fails (``flat picture turned``) or ends without an answer (the deadline). The
face is taken as the enrolled person throughout: identity is the face chain's job and is
tested in tests/decide/test_challenge.py; this measures the geometry.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from processors.decide.challenge_policy import TurnRule
from processors.decide.head_pose import HeadPose, try_head_pose
from processors.decide.turn_check import TurnTrial, observe_turn
from processors.vision.imaging import Image, read_image
from schemas.events import ChallengeKind, ChallengeState
from vigil.apps.bench.challenges.flat import motions, view_of
from vigil.apps.bench.challenges.headturn_data import TURNS
from vigil.core.settings import Settings

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
ASKED_FOR = {"right": ChallengeKind.TURN_LEFT, "left": ChallengeKind.TURN_RIGHT}
OTHER = {ChallengeKind.TURN_LEFT: ChallengeKind.TURN_RIGHT,
         ChallengeKind.TURN_RIGHT: ChallengeKind.TURN_LEFT}


@dataclass(frozen=True)
class Trial:
    group: str  # real turn (asked right), real turn (asked wrong), replay, flat: <motion>
    source: str
    kind: ChallengeKind
    outcome: str  # passed, failed, no answer
    peak: float


class Landmarker:
    """The main face's head pose in a frame, by the face processor's own detector."""

    def __init__(self, settings: Settings) -> None:
        from processors.vision.device import select_device
        from processors.vision.yunet import YuNetFaceDetector

        self.detector = YuNetFaceDetector(settings, select_device(settings, uses_torch=False))
        self.detector.load()

    def poses(self, frames: Sequence[Image]) -> list[HeadPose | None]:
        found = self.detector.infer(frames)
        return [try_head_pose(d.faces[0].landmarks) if d.faces else None for d in found]


def judge(poses: Iterable[HeadPose | None], kind: ChallengeKind, rule: TurnRule
          ) -> tuple[str, float]:
    """The trial's outcome over these frames, and how far it turned the asked way."""
    trial = TurnTrial(kind)
    for pose in poses:
        trial = observe_turn(trial, pose, True, rule)
    outcome = {ChallengeState.PASSED: "passed", ChallengeState.FAILED: "failed"}.get(
        trial.state, "no answer")
    return outcome, trial.peak


def _frames(folder: Path, first: int = 0, last: int = 10**9) -> list[Image]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [read_image(str(p)) for p in files if first <= int(p.stem) <= last]


def real_turns(data: Path, marker: Landmarker, rule: TurnRule) -> list[Trial]:
    trials = []
    for turn in TURNS:
        folder = data / "genuine" / turn.set
        if not folder.is_dir():
            log.warning("head-turn set missing: %s (build it with --build)", folder)
            continue
        poses = marker.poses(_frames(folder, turn.first, turn.last))
        asked = ASKED_FOR[turn.nose_to]
        source = f"{turn.set}@{turn.first}-{turn.last}"
        for group, kind in (("real turn, asked its way", asked),
                            ("real turn, asked the other way", OTHER[asked])):
            trials.append(Trial(group, source, kind, *judge(poses, kind, rule)))
    return trials


def replays(data: Path, marker: Landmarker, rule: TurnRule) -> list[Trial]:
    trials = []
    for kind_dir in ("screen_replay", "phone_replay"):
        for folder in sorted((data / kind_dir).glob("*")) if (data / kind_dir).is_dir() else []:
            poses = marker.poses(_frames(folder))
            for kind in ChallengeKind:
                trials.append(Trial(f"replay of a live video ({kind_dir})", folder.name, kind,
                                    *judge(poses, kind, rule)))
    return trials


def flat_pictures(photos: Sequence[Path], marker: Landmarker, rule: TurnRule) -> list[Trial]:
    trials: list[Trial] = []
    for n, path in enumerate(photos, start=1):
        log.info("flat pictures: %d of %d photos, %d trials", n, len(photos), len(trials))
        photo = read_image(str(path))
        if not marker.poses([view_of(photo, motions(1.0)["turned"][0])])[0]:
            continue  # no face with landmarks in the picture facing the camera
        for towards in (1.0, -1.0):
            for motion, views in motions(towards).items():
                poses = marker.poses([view_of(photo, v) for v in views])
                for kind in ChallengeKind:
                    trials.append(Trial(f"flat picture {motion}", path.name, kind,
                                        *judge(poses, kind, rule)))
    return trials


def photo_paths(folders: Sequence[Path], limit: int) -> list[Path]:
    """Up to ``limit`` photos of each folder, in name order."""
    return [p for f in folders for p in sorted(
        p for p in f.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]]


def table(trials: Sequence[Trial]) -> list[str]:
    """Per group and challenge kind: trials, passed, failed, no answer (Markdown)."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    sources: dict[str, set[str]] = defaultdict(set)
    for t in trials:
        counts[(t.group, t.kind.value)][t.outcome] += 1
        sources[t.group].add(t.source)
    lines = ["| trials of | sources | asked | trials | passed | failed (flat) | no answer |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for (group, kind), c in sorted(counts.items()):
        n = sum(c.values())
        lines.append(f"| {group} | {len(sources[group])} | {kind} | {n} | "
                     f"{c['passed']} ({c['passed'] / n:.0%}) | {c['failed']} | "
                     f"{c['no answer']} |")
    return lines


def run_bench_challenges(settings: Settings, data: Path, photo_dirs: Sequence[Path],
                         photo_limit: int, save: Path | None, rule: TurnRule | None = None
                         ) -> int:
    """Measure, print the table, save every trial as JSON; returns the exit code."""
    rule = rule or TurnRule()
    marker = Landmarker(settings)
    trials = [*real_turns(data, marker, rule), *replays(data, marker, rule),
              *flat_pictures(photo_paths(photo_dirs, photo_limit), marker, rule)]
    print("\n".join(table(trials)))
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(json.dumps([t.__dict__ | {"kind": t.kind.value} for t in trials],
                                   indent=1))
        print(f"trials saved: {save}")
    return 0
