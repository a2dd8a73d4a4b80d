"""A session set on disk (the layout of `vigil bench sessions DIR`).

::

    DIR/enroll/<person>/NNNN.jpg                 frames to enroll that person from
    DIR/genuine/<person>.<k>/NNNN.jpg            consecutive live frames, capture order
    DIR/attack/<person>.<kind>-<k>/NNNN.jpg      someone presenting <person>'s face
    DIR/phone/<person>.<k>/NNNN.jpg              <person> using a phone
    DIR/headturn/<person>.<k>/NNNN.jpg           <person>, asked a head-turn challenge
    DIR/headturn/<person>.<kind>-<k>/NNNN.jpg    someone presenting <person>'s face, asked one

The person is the part of a session folder's name before the first ``.``; frames sort by file
name in capture order. A set may lack any folder. Impostor sessions and mid-session swaps are
not on disk: the bench makes them from genuine sessions of two people (scenarios.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vigil.apps.bench.accuracy.dataset import PICTURE_SUFFIXES
from vigil.core.errors import VigilError

ENROLL = "enroll"
# The folders holding sessions, in report order. A new kind of recorded session is one more
# folder here and one more summary in metrics.py.
RECORDED_KINDS = ("genuine", "attack", "phone", "headturn")
# Sessions asked a step-up challenge at their start, once per challenge kind (scenarios.py).
HEADTURN = "headturn"


class SessionSetError(VigilError, ValueError):
    """A session set that cannot be used; the message names the folder and what is wrong."""

    exit_code = 2


@dataclass(frozen=True)
class RecordedSession:
    """One session folder: its kind (genuine, attack, phone), name, person and frames."""

    kind: str
    name: str
    person: str
    frames: tuple[Path, ...]


@dataclass
class SessionSet:
    """A session set: enrollment frames per person and the recorded sessions."""

    name: str
    root: Path
    enroll: dict[str, list[Path]] = field(default_factory=dict)
    sessions: list[RecordedSession] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[RecordedSession]:
        """The recorded sessions of one kind, in name order."""
        return [s for s in self.sessions if s.kind == kind]


def person_of(session_name: str) -> str:
    """``alice.print-1`` -> ``alice`` (the part before the first dot)."""
    return session_name.split(".", 1)[0]


def presents_attack(session_name: str) -> bool:
    """``alice.print-1`` (someone presenting alice's face) rather than ``alice.1``."""
    return "-" in session_name.split(".", 1)[-1]


def frames_in(folder: Path) -> list[Path]:
    """The pictures of a folder in capture order (file name order)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def load_session_set(root: Path) -> SessionSet:
    """Index a session set; SessionSetError when it is missing or holds no session."""
    if not root.is_dir():
        raise SessionSetError(f"no session set at {root}")
    found = SessionSet(root.name, root)
    for person in _subfolders(root / ENROLL):
        pictures = frames_in(person)
        if pictures:
            found.enroll[person.name] = pictures
    for kind in RECORDED_KINDS:
        for folder in _subfolders(root / kind):
            pictures = frames_in(folder)
            if pictures:
                found.sessions.append(RecordedSession(kind, folder.name, person_of(folder.name),
                                                      tuple(pictures)))
    if not found.sessions:
        raise SessionSetError(f"{root} holds no session with frames under "
                              f"{', '.join(k + '/' for k in RECORDED_KINDS)}")
    return found
