"""Record the face tracks of tests/decide/fixtures/head_turns.json from development frames.

    VIGIL_WEIGHTS_MIRROR=../shared/weights .venv/bin/python -m tests.decide.record_head_turns

Each track is what the face processor made of consecutive frames (letterboxed to 640x480 and
JPEG-encoded as a webcam client sends them, run through the configured face chain): per frame
the faces as a FaceResult carries them (box, landmarks, liveness, distance to the person's
enrollment, quality). Numbers only, no picture, so the decide tests replay real landmarks and
scores in CI, where /work/devdata is absent. Tracks:

- every head turn labelled in vigil/apps/bench/challenges/headturn_data.TURNS (the head-turn
  set, `vigil bench challenges --build`), enrolled from the person's session set
  (/work/devdata/sessions/<person>/enroll);
- the first frames of each replay video of that set (a screen and a phone replaying a turn);
- photos of ../shared/testdata/faces moved as flat pictures (flat.motions: turned, slid),
  enrolled from the photo itself.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from processors.vision.imaging import encode_jpeg, read_image
from vigil.apps.bench import TESTDATA
from vigil.apps.bench.challenges.cli import DEVDATA
from vigil.apps.bench.challenges.flat import motions, view_of
from vigil.apps.bench.challenges.headturn_data import TURNS
from vigil.apps.bench.sessions.cache import OutputCache
from vigil.apps.bench.sessions.decide import _frame
from vigil.apps.bench.sessions.outputs import FrameOutputSource, LazyModels
from vigil.core.settings import Settings, load_settings
from vigil.core.template import Template

OUT = Path(__file__).parent / "fixtures" / "head_turns.json"
HEADTURN = DEVDATA / "headturn"
REPLAY_FRAMES = 40
FLAT_PHOTOS = ("obama_3.jpg", "biden_1.jpg", "kit_harington_1.jpg")
FLAT_HOLD = 2  # frames per pose of a moved picture (the client sends 2 a second)


def _faces(source: FrameOutputSource, settings: Settings, frames: Sequence[Path],
           enrolled: np.ndarray) -> list[list[dict[str, Any]]]:
    """Per frame, its faces as the FaceResult carries them (rounded: these are fixtures)."""
    from processors.face import to_face_result

    outputs = source.frames(list(frames))
    template = Template(enrolled)
    track = []
    for seq, path in enumerate(frames):
        result = to_face_result(_frame(seq, 0, "record"), outputs[path].faces, template,
                                settings, "record", 0, {})
        track.append([_rounded(face.model_dump(mode="json")) for face in result.faces])
    return track


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _enrolled(source: FrameOutputSource, photos: Sequence[Path]) -> np.ndarray:
    report = source.enrollment(photos)
    if not report.embeddings:
        raise SystemExit(f"no enrollment photo accepted among {photos[0].parent}")
    return np.stack(report.embeddings)


def _turns(source: FrameOutputSource, settings: Settings) -> list[dict[str, Any]]:
    tracks = []
    for turn in TURNS:
        folder = HEADTURN / "genuine" / turn.set
        person = turn.set.split(".")[0]
        enroll = sorted((DEVDATA / "sessions" / person / "enroll" / person).glob("*.jpg"))
        frames = sorted(p for p in folder.glob("*.jpg") if turn.first <= int(p.stem) <= turn.last)
        tracks.append({"kind": "turn", "source": f"{turn.set}@{turn.first}-{turn.last}",
                       "nose_to": turn.nose_to,
                       "faces": _faces(source, settings, frames, _enrolled(source, enroll))})
    return tracks


def _replays(source: FrameOutputSource, settings: Settings) -> list[dict[str, Any]]:
    tracks = []
    for folder in sorted(HEADTURN.glob("*_replay/*")):
        person = folder.name.split(".")[0]
        enroll = sorted((DEVDATA / "sessions" / person / "enroll" / person).glob("*.jpg"))
        frames = sorted(folder.glob("*.jpg"))[:REPLAY_FRAMES]
        tracks.append({"kind": "replay", "source": f"{folder.parent.name}/{folder.name}",
                       "faces": _faces(source, settings, frames, _enrolled(source, enroll))})
    return tracks


def _flat(source: FrameOutputSource, settings: Settings, work: Path) -> list[dict[str, Any]]:
    tracks = []
    for name in FLAT_PHOTOS:
        photo_path = TESTDATA / "faces" / name
        photo = read_image(str(photo_path))
        for motion in ("turned", "turned+slid"):
            for towards in (1.0, -1.0):
                folder = work / f"{Path(name).stem}-{motion}-{towards:+.0f}"
                folder.mkdir()
                frames = []
                for index, view in enumerate(motions(towards)[motion]):
                    for hold in range(FLAT_HOLD):
                        path = folder / f"{index:03d}-{hold}.jpg"
                        path.write_bytes(encode_jpeg(view_of(photo, view), 92))
                        frames.append(path)
                tracks.append({"kind": "flat", "source": f"{name} {motion} {towards:+.0f}",
                               "faces": _faces(source, settings, frames,
                                               _enrolled(source, [photo_path]))})
    return tracks


def main() -> None:
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        cache = OutputCache(Path(tmp) / "cache")
        source = FrameOutputSource(settings, LazyModels(settings), cache, "record")
        try:
            tracks = [*_turns(source, settings), *_replays(source, settings),
                      *_flat(source, settings, Path(tmp))]
        finally:
            cache.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"made_by": "python -m tests.decide.record_head_turns",
                               "tracks": tracks}, separators=(",", ":")) + "\n")
    print(f"{len(tracks)} tracks, {sum(len(t['faces']) for t in tracks)} frames: {OUT}")


if __name__ == "__main__":
    main()
