"""The sessions the bench presents: recorded ones, and impostors and swaps made from them.

People are named ``<set>/<person>`` (two sets may both have an ``alice``).

- **recorded** (genuine, attack, phone, headturn): the folder's frames checked against the
  enrollment of the person the folder names (an attack presents that person's face). A
  head-turn session is presented once per challenge kind, ``asked`` that challenge at its
  start: whether it passes is up to the recorded frames (a person who never turns the asked
  way cannot pass).
- **impostor**: person B's genuine session checked against person A's enrollment, for every
  enrolled A and every genuine session of another person B, in any of the sets given.
- **swap**: A's genuine session, then B's genuine session in the same session (the same
  client, A's enrollment): someone else sits down mid-session. ``swap_at`` is the index of
  B's first frame.

Impostors and swaps are reported under A's set: how well that set's people are kept from
others. A recorded session whose person has no ``enroll/`` folder (or no usable enrollment
photo) cannot be checked and is skipped, with a count in the report — except a phone session:
photos of people using phones rarely come with enrollment photos, and the policy looks for a
phone before it checks who the face is, so it runs against no enrollment (``NOBODY``).
``pair_limit`` bounds the impostor and the swap sessions each to a seeded random sample.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from schemas.events import ChallengeKind
from vigil.apps.bench.sessions.layout import HEADTURN, RecordedSession, SessionSet

IMPOSTOR = "impostor"
SWAP = "swap"
NOBODY = ""  # Presented.enrolled of a phone session whose person is not enrolled


def person_key(set_name: str, person: str) -> str:
    """How the bench names a person: ``<set>/<person>``."""
    return f"{set_name}/{person}"


@dataclass(frozen=True)
class Presented:
    """One session as a client sends it, and whose enrollment its frames are checked against."""

    kind: str  # genuine, attack, phone, impostor, swap
    set_name: str  # the set it is reported under
    name: str
    enrolled: str  # person_key of the enrollment the face processor matches against, or NOBODY
    frames: tuple[Path, ...]
    swap_at: int | None = None  # swap: index of the second person's first frame
    asked: ChallengeKind | None = None  # headturn: the challenge asked at the start
    presenter: str = NOBODY  # impostor, swap: person_key of the other person in the frames


@dataclass(frozen=True)
class Source:
    """A recorded session and its set."""

    set_name: str
    session: RecordedSession

    @property
    def person(self) -> str:
        return person_key(self.set_name, self.session.person)

    @property
    def name(self) -> str:
        return f"{self.set_name}/{self.session.name}"


@dataclass
class Presentation:
    """Every session to run, and the recorded ones skipped for want of an enrollment."""

    sessions: list[Presented]
    not_enrolled: list[Source]


def _sample(pairs: list[Presented], limit: int | None, rng: random.Random) -> list[Presented]:
    if limit is None or len(pairs) <= limit:
        return pairs
    chosen = set(rng.sample(range(len(pairs)), limit))
    return [p for i, p in enumerate(pairs) if i in chosen]


def impostors(genuine: Sequence[Source], enrolled: Collection[str]) -> list[Presented]:
    """B's genuine session at A's enrollment, for every enrolled A and every B that is not A."""
    return [Presented(IMPOSTOR, a.split("/", 1)[0], f"{b.name}@{a}", a, b.session.frames,
                      presenter=b.person)
            for a in sorted(enrolled) for b in genuine if b.person != a]


def swaps(genuine: Sequence[Source], enrolled: Collection[str]) -> list[Presented]:
    """A's genuine session then B's, for every ordered pair of sessions of two people."""
    return [Presented(SWAP, a.set_name, f"{a.name}>{b.name}", a.person,
                      a.session.frames + b.session.frames, len(a.session.frames),
                      presenter=b.person)
            for a in genuine if a.person in enrolled for b in genuine if b.person != a.person]


def sent_frames(frames: tuple[Path, ...], capture_fps: float | None, fps: float
                ) -> tuple[Path, ...]:
    """The frames a client sending ``fps`` frames a second picks from a camera that captured
    ``capture_fps`` (None, or not faster than the client: every frame)."""
    if capture_fps is None or capture_fps <= fps:
        return frames
    step = capture_fps / fps
    picked = dict.fromkeys(int(k * step + 0.5) for k in range(int(len(frames) / step) + 1))
    return tuple(frames[i] for i in picked if i < len(frames))


def present(sets: Sequence[SessionSet], enrolled: Collection[str],
            pair_limit: int | None = None, seed: int = 0, fps: float = 2.0,
            capture_fps: float | None = None) -> Presentation:
    """Every session the bench runs (see the module docstring), each recorded session's
    frames as a client at ``fps`` picks them from a capture at ``capture_fps``."""
    sources = [Source(data.name, replace(s, frames=sent_frames(s.frames, capture_fps, fps)))
               for data in sets for s in data.sessions]
    runnable = [s for s in sources if s.person in enrolled or s.session.kind == "phone"]
    recorded = [Presented(s.session.kind, s.set_name, s.name,
                          s.person if s.person in enrolled else NOBODY, s.session.frames)
                for s in runnable]
    recorded = [replace(p, name=f"{p.name} asked {kind.value}", asked=kind)
                for p in recorded if p.kind == HEADTURN for kind in ChallengeKind
                ] + [p for p in recorded if p.kind != HEADTURN]
    skipped = [s for s in sources if s not in runnable]
    genuine = [s for s in sources if s.session.kind == "genuine"]
    rng = random.Random(seed)
    made = (_sample(impostors(genuine, enrolled), pair_limit, rng)
            + _sample(swaps(genuine, enrolled), pair_limit, rng))
    return Presentation(recorded + made, skipped)
