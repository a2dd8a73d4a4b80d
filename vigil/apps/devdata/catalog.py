"""What a source is: which files of which repository, labelled by the source's own names.

A source module declares one :class:`Source`; the builder does the rest. Labels come from the
source (its folder names, file names, label files or README) or, where it has none, from
looking at the pictures (runs declared by their first and last file, as piiyush's prints
and phones), never from running a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GENUINE = "genuine"
PHONE_IN_USE = "phone"
ATTACK_KINDS = frozenset({"print", "phone_replay", "screen_replay", "mixed"})
# Frames taken evenly from a clip for its frame-level set.
CLIP_FRAMES = 40


@dataclass(frozen=True)
class Pictures:
    """Still pictures in one folder of the repository, all carrying the same labels."""

    folder: str
    frame_set: str
    labels: tuple[str, ...]
    person: str | None = None  # also written to identities/<person>/ when the source names one
    limit: int | None = None  # keep this many, evenly spaced in name order
    first: str | None = None  # only file names (without suffix) from this one on, in name order
    last: str | None = None  # ... up to and including this one
    yolo_class: int | None = None  # only pictures whose label file beside them holds only this
    names: tuple[str, ...] | None = None  # only these file names (without suffix), e.g. by eye


@dataclass(frozen=True)
class Clip:
    """A video of one person: sampled frames for a frame set, consecutive ones for sessions."""

    path: str
    person: str
    kind: str  # GENUINE, PHONE_IN_USE or one of ATTACK_KINDS
    frame_set: str
    frames: int = CLIP_FRAMES
    note: str = ""  # what the clip shows, as the source describes it

    def __post_init__(self) -> None:
        if self.kind not in ATTACK_KINDS | {GENUINE, PHONE_IN_USE}:
            raise ValueError(f"clip {self.path}: unknown kind {self.kind!r}")
        if "." in self.person:
            raise ValueError(f"clip {self.path}: a person name cannot hold '.' ({self.person})")


@dataclass(frozen=True)
class Captures:
    """Numbered webcam captures of one person, in folders of a YOLO export (``images/`` with
    ``labels/`` beside it), labelled per picture by the source's own label files.

    A picture whose labels hold one of ``phone_classes`` is a phone in use; one whose labels
    hold only ``other_classes`` is the same scene without a phone (something else in hand).
    ``order`` finds the capture number in a file name: the numbers give the capture order,
    and runs of one label make sessions of ``session_frames`` frames.
    """

    folders: tuple[str, ...]  # image folders; the first holding a capture number wins
    person: str
    frame_set: str
    phone_classes: frozenset[int]
    other_classes: frozenset[int]
    order: str  # a regular expression whose first group is the capture number
    size: tuple[int, int] | None = None  # undo the export's stretch: (width, height)
    session_frames: int = 10  # 5 seconds at 2 frames a second
    note: str = ""


@dataclass(frozen=True)
class Stills:
    """Webcam frames saved in capture order, several people in one folder: each file name
    (matched whole by ``pattern``, with groups ``person`` and ``index``) says whose frame it is
    and where it came in the capture. Per person, the first ``enroll`` frames enroll them and
    the rest, in index order, are one genuine session (and bona fide frames of ``frame_set``)."""

    folder: str
    pattern: str
    frame_set: str
    enroll: int = 1
    note: str = ""  # how the frames were taken, as the source shows it


@dataclass(frozen=True)
class TimedRun:
    """One person at the webcam, the frames named ``first`` to ``last`` (inclusive): live,
    live with a phone in use (``kind`` PHONE_IN_USE), or (``kind`` an attack) their face
    presented by someone else."""

    person: str
    first: str
    last: str
    note: str = ""  # what the frames show
    # GENUINE, PHONE_IN_USE (a phone in sight in every frame), or one of ATTACK_KINDS:
    # someone presenting ``person``'s face (attack sessions)
    kind: str = GENUINE
    # (first, last): enroll ``person`` from these frames (all of them) instead of the run's
    # first ones, e.g. a printed face's sharpest frames, just after the attack run
    enroll_from: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if "." in self.person:
            raise ValueError(f"run {self.first}: a person name cannot hold '.' ({self.person})")
        if self.kind not in ATTACK_KINDS | {GENUINE, PHONE_IN_USE}:
            raise ValueError(f"run {self.first}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class TimedFrames:
    """Webcam frames named by their capture time, as the YOLO anti-spoofing recipe's
    ``dataCollection.py`` saves them (``str(time())`` without its point: 10 digits of seconds,
    then the fraction). Each run, taken in capture order at about the sessions' frame rate,
    is a genuine session of its person (split where the capture pauses longer than
    ``max_gap_s``); a person's first frames enroll them. Runs are chosen by looking at the
    pictures: the source names no one, so each run is its own person unless the declaration
    says otherwise."""

    folder: str
    runs: tuple[TimedRun, ...]
    yolo_class: int | None = None  # only frames the source's label file calls this class
    max_gap_s: float = 3.0


@dataclass(frozen=True)
class Source:
    """One public repository and what the builder takes from it."""

    name: str  # sessions/<name>/ and the prefix of its frame sets
    repo: str  # owner/name on GitHub
    licence: str  # as the repository states it, or "unstated"
    about: str  # one or two sentences: who, what camera, what attacks
    pictures: tuple[Pictures, ...] = ()
    clips: tuple[Clip, ...] = ()
    captures: tuple[Captures, ...] = ()
    stills: tuple[Stills, ...] = ()
    timed: tuple[TimedFrames, ...] = ()
    revision: str = "HEAD"  # a commit of the snapshot's history when HEAD lost the pictures
    frame_sets: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = ({p.frame_set for p in self.pictures} | {c.frame_set for c in self.clips}
                 | {c.frame_set for c in self.captures}
                 | {s.frame_set for s in self.stills})
        object.__setattr__(self, "frame_sets", tuple(sorted(names)))


def clip_labels(kind: str) -> tuple[str, ...]:
    """The accuracy folders a frame of a clip of ``kind`` goes to."""
    if kind == GENUINE:
        return ("bona_fide",)
    if kind == PHONE_IN_USE:
        return ("bona_fide", "phone")
    return ("attack",)


def session_folder(kind: str) -> str:
    """The sessions/<set>/ folder a clip of ``kind`` goes to."""
    if kind == GENUINE:
        return "genuine"
    if kind == PHONE_IN_USE:
        return "phone"
    return "attack"
