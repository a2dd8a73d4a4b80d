"""Build the development sets of every source into OUT, one source at a time.

Each source is built into ``OUT/.staging/<name>/`` and then moved into place set by set, so an
interrupted build leaves the previous sets whole. A record of what was built (commit, counts,
picture sizes) goes to ``OUT/.sources/<name>.json``; a source whose record names the same
commit and builder version is not built again (``force`` rebuilds). SOURCES.md is written
from those records (:mod:`vigil.apps.devdata.report`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from vigil.apps.devdata.captures import build_captures, label_beside, label_classes
from vigil.apps.devdata.catalog import (
    GENUINE,
    Clip,
    Pictures,
    Source,
    clip_labels,
    session_folder,
)
from vigil.apps.devdata.media import (
    MediaError,
    Video,
    encode_jpeg,
    evenly,
    picture_size,
    suffix_of,
    write_file,
)
from vigil.apps.devdata.snapshot import Snapshot, SnapshotError
from vigil.apps.devdata.stills import build_stills
from vigil.apps.devdata.timed import build_timed

BUILDER_VERSION = 2
SESSION_FPS = 5.0  # sessions keep about this many frames a second of the source video
SESSION_MAX_FRAMES = 120  # at most 24 s of a clip per session
ENROLL_FRAMES = 5  # the first frames of a person's first genuine clip enroll them
IDENTITY_EVERY = 8  # one of this many frame-set frames of a genuine clip joins identities/
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

Progress = Callable[[str], None]


@dataclass
class Built:
    """What one source produced (kept as ``.sources/<name>.json``)."""

    source: str
    repo: str
    commit: str
    builder_version: int = BUILDER_VERSION
    definition: str = ""  # digest of the source's declaration: a changed source is rebuilt
    frames: dict[str, dict[str, int]] = field(default_factory=dict)  # set -> label -> count
    sessions: dict[str, int] = field(default_factory=dict)  # folder -> sessions
    session_frames: dict[str, int] = field(default_factory=dict)  # folder -> frames
    sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> pictures
    left_out: list[str] = field(default_factory=list)

    def count(self, frame_set: str, label: str, n: int = 1) -> None:
        labels = self.frames.setdefault(frame_set, {})
        labels[label] = labels.get(label, 0) + n

    def size(self, width: int, height: int, n: int = 1) -> None:
        """Count ``n`` pictures of ``width`` x ``height``."""
        self.sizes[f"{width}x{height}"] = self.sizes.get(f"{width}x{height}", 0) + n

    def session(self, folder: str, frames: int) -> None:
        """Count one session of ``frames`` frames in ``folder`` (``enroll``: frames only)."""
        if folder != "enroll":
            self.sessions[folder] = self.sessions.get(folder, 0) + 1
        self.session_frames[folder] = self.session_frames.get(folder, 0) + frames


@dataclass
class Outcome:
    """One source's result in this run: built, up to date, or skipped and why."""

    source: Source
    status: str
    built: Built | None = None


def build_all(mirror: Path, out: Path, sources: Iterable[Source], *, force: bool = False,
              progress: Progress = print) -> list[Outcome]:
    """Build every source whose snapshot is under ``mirror``; skip the others, saying why."""
    outcomes = []
    for source in sources:
        try:
            snapshot = Snapshot.open(mirror, source.repo, source.revision)
        except SnapshotError as exc:
            progress(f"devdata: skip {source.name}: {exc.message}")
            outcomes.append(Outcome(source, f"skipped: {exc.message}"))
            continue
        previous = read_record(out, source.name)
        if (not force and previous is not None and previous.commit == snapshot.commit
                and previous.builder_version == BUILDER_VERSION
                and previous.definition == definition_digest(source)
                and all((out / "frames" / s).is_dir() for s in source.frame_sets)):
            progress(f"devdata: {source.name} up to date ({snapshot.commit[:12]})")
            outcomes.append(Outcome(source, "up to date", previous))
            continue
        built = build_source(source, snapshot, out, progress)
        outcomes.append(Outcome(source, "built", built))
    return outcomes


def with_recorded(out: Path, sources: Iterable[Source],
                  outcomes: Iterable[Outcome]) -> list[Outcome]:
    """This run's outcomes, and for each source not in them, what its record says."""
    by_name = {o.source.name: o for o in outcomes}
    everything = []
    for source in sources:
        if source.name in by_name:
            everything.append(by_name[source.name])
        else:
            built = read_record(out, source.name)
            everything.append(Outcome(source, "built earlier" if built else "not built", built))
    return everything


def definition_digest(source: Source) -> str:
    """A short digest of what the source declares (paths, labels, limits)."""
    return hashlib.sha256(repr(source).encode()).hexdigest()[:16]


def build_source(source: Source, snapshot: Snapshot, out: Path, progress: Progress) -> Built:
    """Build one source into staging, then move its sets into place."""
    staging = out / ".staging" / source.name
    shutil.rmtree(staging, ignore_errors=True)
    built = Built(source.name, source.repo, snapshot.commit,
                  definition=definition_digest(source))
    for pictures in source.pictures:
        _copy_pictures(pictures, snapshot, staging, built, progress)
    enrolled: set[str] = set()
    taken: Counter[tuple[str, str]] = Counter()
    for number, clip in enumerate(source.clips, 1):
        progress(f"devdata: {source.name} clip {number}/{len(source.clips)} {clip.path}")
        taken[(clip.person, clip.kind)] += 1
        _sample_clip(clip, taken[(clip.person, clip.kind)], snapshot, staging, built, enrolled)
    for captures in source.captures:
        progress(f"devdata: {source.name} captures of {captures.person}")
        build_captures(captures, snapshot, staging, built, enroll=ENROLL_FRAMES)
    for stills in source.stills:
        build_stills(stills, snapshot, staging, built, progress)
    for timed in source.timed:
        build_timed(timed, snapshot, staging, built, progress, fps=SESSION_FPS,
                    max_frames=SESSION_MAX_FRAMES, enroll=ENROLL_FRAMES)
    for frame_set in source.frame_sets:
        _drop_contradictions(staging / "frames" / frame_set, built)
    _move_into_place(source, staging, out)
    write_record(out, built)
    total = sum(sum(labels.values()) for labels in built.frames.values())
    progress(f"devdata: {source.name} built from {snapshot.commit[:12]}: {total} frame-set "
             f"pictures, {sum(built.sessions.values())} sessions")
    return built


def _copy_pictures(pictures: Pictures, snapshot: Snapshot, staging: Path, built: Built,
                   progress: Progress) -> None:
    paths = [p for p in snapshot.files(pictures.folder) if p.lower().endswith(PICTURE_SUFFIXES)
             and _in_range(PurePosixPath(p).stem, pictures)]
    if pictures.yolo_class is not None:
        paths = [p for p in paths
                 if set(label_classes(snapshot, label_beside(p))) == {pictures.yolo_class}]
    if pictures.limit is not None:
        paths = [paths[i] for i in evenly(len(paths), pictures.limit)]
    progress(f"devdata: {built.source} {len(paths)} pictures from {pictures.folder}")
    root = staging / "frames" / pictures.frame_set
    folders = [root / label for label in pictures.labels]
    if pictures.person:
        folders.append(root / "identities" / pictures.person)
    for path in paths:
        data = snapshot.read(path)
        try:
            width, height = picture_size(data)
        except MediaError:
            built.left_out.append(path)
            continue
        built.size(width, height)
        name = _safe_name(path, pictures.folder)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        for label in pictures.labels:
            built.count(pictures.frame_set, label)
        if pictures.person:
            built.count(pictures.frame_set, "identities")


def _in_range(stem: str, pictures: Pictures) -> bool:
    """Whether a file name (without suffix) lies in the declared ``first``..``last`` and,
    when names are declared, is one of them."""
    return ((pictures.first is None or stem >= pictures.first)
            and (pictures.last is None or stem <= pictures.last)
            and (pictures.names is None or stem in pictures.names))


def _sample_clip(clip: Clip, k: int, snapshot: Snapshot, staging: Path, built: Built,
                 enrolled: set[str]) -> None:
    try:
        video = Video(snapshot.read(clip.path), suffix_of(clip.path))
    except MediaError as exc:
        built.left_out.append(f"{clip.path} ({exc.message})")
        return
    with video:
        step = max(1, round(video.fps / SESSION_FPS))
        enroll = clip.kind == GENUINE and clip.person not in enrolled
        session = list(range(0, video.count, step))[:SESSION_MAX_FRAMES + (
            ENROLL_FRAMES if enroll else 0)]
        enroll_part, session = (session[:ENROLL_FRAMES], session[ENROLL_FRAMES:]) if enroll \
            else ([], session)
        picked = evenly(video.count, clip.frames)
        stem = f"{clip.person}-{clip.kind}-{k}"
        frame_root = staging / "frames" / clip.frame_set
        session_root = staging / "sessions" / built.source
        folder = session_folder(clip.kind)
        session_dir = session_root / folder / (
            f"{clip.person}.{k}" if folder != "attack" else f"{clip.person}.{clip.kind}-{k}")
        wanted = sorted(set(picked) | set(enroll_part) | set(session))
        for index, frame in video.frames(wanted):
            data = encode_jpeg(frame)
            if index in picked:
                built.size(frame.shape[1], frame.shape[0])
                labels = list(clip_labels(clip.kind))
                if clip.kind == GENUINE and picked.index(index) % IDENTITY_EVERY == 0:
                    labels.append(f"identities/{clip.person}")
                for label in labels:
                    write_file(frame_root / label / f"{stem}-{index:05d}.jpg", data)
                    built.count(clip.frame_set, label.split("/")[0])
            if index in enroll_part:
                write_file(session_root / "enroll" / clip.person / f"{index:05d}.jpg", data)
            if index in session:
                write_file(session_dir / f"{index:05d}.jpg", data)
    if enroll_part:
        enrolled.add(clip.person)
        built.session("enroll", len(enroll_part))
    built.session(folder, len(session))


def _drop_contradictions(root: Path, built: Built) -> None:
    """Remove, from every folder of the set, pictures the source put under both bona_fide/
    and attack/ (the same bytes): the source contradicts itself about them."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def digests(label: str) -> set[str]:
        folder = root / label
        return {digest(p) for p in folder.iterdir()} if folder.is_dir() else set()

    contradicted = digests("bona_fide") & digests("attack")
    if not contradicted:
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if digest(path) in contradicted:
            label = path.relative_to(root).parts[0]
            path.unlink()
            built.count(root.name, label, -1)
            built.left_out.append(f"{path.relative_to(root)} (same picture as bona fide and "
                                  f"as attack)")


def _safe_name(path: str, folder: str) -> str:
    """A flat file name for ``path``: its part below ``folder`` with '/' as '_'."""
    relative = PurePosixPath(path).relative_to(folder) if folder else PurePosixPath(path)
    return re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(relative.parts))


def _move_into_place(source: Source, staging: Path, out: Path) -> None:
    """Replace each set of the source with its staged copy (a set with nothing is removed)."""
    targets = [("frames", s) for s in source.frame_sets]
    if source.clips or source.captures or source.stills or source.timed:
        targets.append(("sessions", source.name))
    for kind, name in targets:
        destination = out / kind / name
        shutil.rmtree(destination, ignore_errors=True)
        staged = staging / kind / name
        if staged.is_dir():
            destination.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(destination)
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):  # the parent stays only while another build uses it
        staging.parent.rmdir()


def record_path(out: Path, name: str) -> Path:
    """Where the record of source ``name`` is kept."""
    return out / ".sources" / f"{name}.json"


def write_record(out: Path, built: Built) -> None:
    """Keep what a source produced, for SOURCES.md and the next build's up-to-date check."""
    path = record_path(out, built.source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(built), indent=1, sort_keys=True) + "\n")


def read_record(out: Path, name: str) -> Built | None:
    """The record of source ``name``, or None if it was never built (or is left_out)."""
    try:
        return Built(**json.loads(record_path(out, name).read_text()))
    except (OSError, ValueError, TypeError):
        return None
