"""The sessions the bench presents: recorded ones, and impostors and swaps made from them.

People are named ``<set>/<person>`` (two sets may both have an ``alice``).

- **recorded** (genuine, attack, phone): the folder's frames checked against the enrollment of
  the person the folder names (an attack presents that person's face).
- **impostor**: person B's genuine session checked against person A's enrollment, for every
  enrolled A and every genuine session of another person B, in any of the sets given.
- **swap**: A's genuine session, then B's genuine session in the same session (the same
  client, A's enrollment): someone else sits down mid-session. ``swap_at`` is the index of
  B's first frame.

Impostors and swaps are reported under A's set: how well that set's people are kept from
others. A recorded session whose person has no ``enroll/`` folder (or no usable enrollment
photo) cannot be checked and is skipped, with a count in the report. ``pair_limit`` bounds the
impostor and the swap sessions each to a seeded random sample.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vigil.apps.bench.sessions.layout import RecordedSession, SessionSet

IMPOSTOR = "impostor"
SWAP = "swap"


def person_key(set_name: str, person: str) -> str:
    """How the bench names a person: ``<set>/<person>``."""
    return f"{set_name}/{person}"


@dataclass(frozen=True)
class Presented:
    """One session as a client sends it, and whose enrollment its frames are checked against."""

    kind: str  # genuine, attack, phone, impostor, swap
    set_name: str  # the set it is reported under
    name: str
    enrolled: str  # person_key of the enrollment the face processor matches against
    frames: tuple[Path, ...]
    swap_at: int | None = None  # swap: index of the second person's first frame


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
    return [Presented(IMPOSTOR, a.split("/", 1)[0], f"{b.name}@{a}", a, b.session.frames)
            for a in sorted(enrolled) for b in genuine if b.person != a]


def swaps(genuine: Sequence[Source], enrolled: Collection[str]) -> list[Presented]:
    """A's genuine session then B's, for every ordered pair of sessions of two people."""
    return [Presented(SWAP, a.set_name, f"{a.name}>{b.name}", a.person,
                      a.session.frames + b.session.frames, len(a.session.frames))
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
    recorded = [Presented(s.session.kind, s.set_name, s.name, s.person, s.session.frames)
                for s in sources if s.person in enrolled]
    skipped = [s for s in sources if s.person not in enrolled]
    genuine = [s for s in sources if s.session.kind == "genuine"]
    rng = random.Random(seed)
    made = (_sample(impostors(genuine, enrolled), pair_limit, rng)
            + _sample(swaps(genuine, enrolled), pair_limit, rng))
    return Presentation(recorded + made, skipped)
