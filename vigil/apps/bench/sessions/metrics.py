"""The session bench's figures, each with the counts behind it.

A frame is *allowed* when its decision's action is ``allow`` — whatever the reason: a reason
still being debounced leaves the session open, and that is what a user (or an attacker) sees.
Times are seconds from the session's first frame to the capture of the frame whose decision
counts (processing time not included), at the bench's fps.

- genuine: sessions *signed out* (any ``sign_out`` or ``block``), sessions *locked* (a
  ``lock_screen`` after the first allow: the hold at the start is not an interruption),
  *interruptions* (runs of frames not allowed that follow an allowed frame or hold a
  sign-out) per genuine session-hour, time allowed, seconds to the first allow.
- attack: sessions ever allowed, frames allowed.
- phone: sessions caught (a non-allow decision for ``phone``), seconds to catch, and whole
  5-second windows of phone sessions with such a decision (recall per window); genuine
  sessions' 5-second windows with one are false phones.
- impostor: sessions caught (a non-allow decision for ``wrong_user``), seconds to it, sessions
  ever allowed, frames allowed.
- swap: seconds from the swap to the first non-allow ``wrong_user``; *missed* when none comes
  within ``swap_window_s``; frames allowed after the swap.

- headturn (asked a step-up challenge at the start, once per challenge kind): for the person
  turning, challenges *passed*, seconds to the pass, sessions signed out; for flat pictures
  moved and for replays (``<person>.<kind>-<k>``), challenges *refused* (not passed: failed,
  or no answer by the deadline), failed as a flat picture, and sessions ever allowed.

A new kind of session adds one summary function to ``SUMMARIES``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from schemas.events import Action, ChallengeKind, ChallengeState, Reason
from vigil.apps.bench.accuracy.metrics import Ratio
from vigil.apps.bench.sessions.decide import Step
from vigil.apps.bench.sessions.layout import presents_attack
from vigil.apps.bench.sessions.scenarios import Presented

SIGNED_OUT = frozenset({Action.SIGN_OUT, Action.BLOCK})
WINDOW_S = 5.0  # phone recall and false phones are also counted per window of this length


@dataclass(frozen=True)
class Seconds:
    """Times in seconds, printed as median and p95 with how many there were."""

    values: tuple[float, ...]
    of: int  # sessions the times were looked for in (the rest never reached the event)

    def quantile(self, q: float) -> float | None:
        return float(np.percentile(self.values, q)) if self.values else None

    def __str__(self) -> str:
        if not self.values:
            return f"- (0/{self.of})"
        median, p95 = self.quantile(50), self.quantile(95)
        return f"{median:.1f} / {p95:.1f} s ({len(self.values)}/{self.of})"


@dataclass(frozen=True)
class PerHour:
    """A count over hours of sessions."""

    count: int
    hours: float

    def __str__(self) -> str:
        if not self.hours:
            return "- (0 in 0 h)"
        return f"{self.count / self.hours:.1f} ({self.count} in {self.hours:.3f} h)"


Figure = Ratio | Seconds | PerHour
Ran = tuple[Presented, list[Step]]


def allowed(step: Step) -> bool:
    return step.action is Action.ALLOW


def first_time(steps: Sequence[Step], hit: Callable[[Step], bool]) -> float | None:
    """The time of the first step that ``hit`` accepts, or None."""
    return next((s.t_s for s in steps if hit(s)), None)


def acted_for(reason: Reason) -> Callable[[Step], bool]:
    """A step whose action is not allow, taken for ``reason``."""
    return lambda s: s.reason is reason and s.action is not Action.ALLOW


def interruptions(steps: Sequence[Step]) -> int:
    """Runs of frames not allowed that follow an allowed frame or hold a sign-out (the hold
    at a session's start is no interruption unless it signs the user out)."""
    runs = [(ok, list(run)) for ok, run in itertools.groupby(steps, key=allowed)]
    # Runs alternate, so a run not allowed after the first follows an allowed one.
    return sum(1 for index, (ok, run) in enumerate(runs) if not ok and (
        index > 0 or any(s.action in SIGNED_OUT for s in run)))


def _times(runs: Sequence[Ran], hit: Callable[[Step], bool]) -> Seconds:
    found = [first_time(steps, hit) for _, steps in runs]
    return Seconds(tuple(t for t in found if t is not None), len(runs))


def _frames_allowed(runs: Sequence[Ran]) -> Ratio:
    return Ratio(sum(allowed(s) for _, st in runs for s in st), sum(len(st) for _, st in runs))


def _sessions(runs: Sequence[Ran], hit: Callable[[list[Step]], bool]) -> Ratio:
    return Ratio(sum(1 for _, steps in runs if hit(steps)), len(runs))


def _windows(runs: Sequence[Ran], fps: float,
             hit: Callable[[Step], bool]) -> Ratio:
    """Whole windows of ``WINDOW_S`` seconds of the sessions (a shorter tail is left out)
    in which ``hit`` accepts a step."""
    size = max(1, round(WINDOW_S * fps))
    windows = [steps[i:i + size] for _, steps in runs
               for i in range(0, len(steps) - size + 1, size)]
    return Ratio(sum(1 for w in windows if any(map(hit, w))), len(windows))


def genuine(runs: Sequence[Ran], fps: float) -> dict[str, Figure]:
    def locked(steps: list[Step]) -> bool:
        first = next((i for i, s in enumerate(steps) if allowed(s)), len(steps))
        return any(s.action is Action.LOCK_SCREEN for s in steps[first:])

    hours = sum(len(steps) for _, steps in runs) / fps / 3600
    return {
        "genuine sessions signed out": _sessions(
            runs, lambda st: any(s.action in SIGNED_OUT for s in st)),
        "genuine sessions locked after allow": _sessions(runs, locked),
        "interruptions per genuine session-hour": PerHour(
            sum(interruptions(steps) for _, steps in runs), hours),
        "genuine time allowed": _frames_allowed(runs),
        "seconds to first allow (median / p95)": _times(runs, allowed),
        f"genuine {WINDOW_S:g}-s windows with a phone (false phones)": _windows(
            runs, fps, acted_for(Reason.PHONE)),
    }


def attack(runs: Sequence[Ran], fps: float) -> dict[str, Figure]:
    return {
        "attack sessions ever allowed": _sessions(runs, lambda st: any(map(allowed, st))),
        "attack frames allowed": _frames_allowed(runs),
        "attack sessions signed out": _sessions(
            runs, lambda st: any(s.action in SIGNED_OUT for s in st)),
    }


def phone(runs: Sequence[Ran], fps: float) -> dict[str, Figure]:
    return {
        "phone sessions caught": _sessions(
            runs, lambda st: any(map(acted_for(Reason.PHONE), st))),
        "seconds to catch a phone (median / p95)": _times(runs, acted_for(Reason.PHONE)),
        f"phone {WINDOW_S:g}-s windows caught": _windows(runs, fps, acted_for(Reason.PHONE)),
    }


def impostor(runs: Sequence[Ran], fps: float) -> dict[str, Figure]:
    return {
        "impostor sessions caught (wrong_user)": _sessions(
            runs, lambda st: any(map(acted_for(Reason.WRONG_USER), st))),
        "seconds to wrong_user (median / p95)": _times(runs, acted_for(Reason.WRONG_USER)),
        "impostor sessions ever allowed": _sessions(runs, lambda st: any(map(allowed, st))),
        "impostor frames allowed": _frames_allowed(runs),
    }


def after_swap(presented: Presented, steps: Sequence[Step]) -> list[Step]:
    """The steps from the second person's first frame on, timed from it."""
    rest = steps[presented.swap_at or 0:]
    return [replace(s, t_s=s.t_s - rest[0].t_s) for s in rest]


def swap(runs: Sequence[Ran], fps: float, window_s: float) -> dict[str, Figure]:
    after = [(p, after_swap(p, steps)) for p, steps in runs]
    caught = [first_time(steps, acted_for(Reason.WRONG_USER)) for _, steps in after]
    return {
        f"swaps missed (no wrong_user within {window_s:g} s)": Ratio(
            sum(1 for t in caught if t is None or t > window_s), len(runs)),
        "seconds from swap to wrong_user (median / p95)": _times(
            after, acted_for(Reason.WRONG_USER)),
        "frames allowed after the swap": _frames_allowed(after),
    }


def challenged(state: ChallengeState) -> Callable[[Step], bool]:
    """A step whose decision ends the session's challenge in ``state``."""
    return lambda s: s.challenge is state


def _headturn_group(label: str, runs: Sequence[Ran], attack: bool) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for kind in ChallengeKind:
        asked = [r for r in runs if r[0].asked is kind]
        if not asked:
            continue
        if attack:
            figures[f"{label}: challenges refused ({kind.value})"] = _sessions(
                asked, lambda st: not any(map(challenged(ChallengeState.PASSED), st)))
            figures[f"{label}: failed as flat ({kind.value})"] = _sessions(
                asked, lambda st: any(map(challenged(ChallengeState.FAILED), st)))
        else:
            figures[f"{label}: challenges passed ({kind.value})"] = _sessions(
                asked, lambda st: any(map(challenged(ChallengeState.PASSED), st)))
    if attack:
        figures[f"{label}: sessions ever allowed"] = _sessions(
            runs, lambda st: any(map(allowed, st)))
    else:
        figures[f"{label}: seconds to pass (median / p95)"] = _times(
            runs, challenged(ChallengeState.PASSED))
        figures[f"{label}: sessions signed out"] = _sessions(
            runs, lambda st: any(s.action in SIGNED_OUT for s in st))
    return figures


def headturn(runs: Sequence[Ran], fps: float) -> dict[str, Figure]:
    groups = (("head turns", False, lambda name: not presents_attack(name)),
              ("flat pictures", True, lambda name: ".flat" in name),
              ("replays", True, lambda name: presents_attack(name) and ".flat" not in name))
    figures: dict[str, Figure] = {}
    for label, attack, holds in groups:
        mine = [r for r in runs if holds(r[0].name.split("/")[-1])]
        if mine:
            figures.update(_headturn_group(label, mine, attack))
    return figures


SUMMARIES: dict[str, Callable[[Sequence[Ran], float], dict[str, Figure]]] = {
    "genuine": genuine, "attack": attack, "phone": phone, "impostor": impostor,
    "headturn": headturn}


def summarize(runs: Sequence[Ran], fps: float, swap_window_s: float) -> dict[str, Figure]:
    """Every figure of one set (or all sets) under one alternative, kinds in report order."""
    figures: dict[str, Figure] = {}
    for kind, summary in SUMMARIES.items():
        of_kind = [r for r in runs if r[0].kind == kind]
        if of_kind:
            figures.update(summary(of_kind, fps))
    swaps = [r for r in runs if r[0].kind == "swap"]
    if swaps:
        figures.update(swap(swaps, fps, swap_window_s))
    return figures
