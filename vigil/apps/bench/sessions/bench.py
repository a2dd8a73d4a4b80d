"""`vigil bench sessions`: every session of every set through the models and the decide stage,
under the configured settings and each ``--compare`` alternative.

Per alternative, over all sets at once (impostors may come from another set): enroll each
person from ``enroll/<person>/`` (outputs.py, the code of `vigil enroll`), make the sessions to
present (scenarios.py), get every frame's model outputs (from the cache, or the models), decide
every session (decide.py), and sum up per set and over all (metrics.py). With ``--stack``, one
more column: the configured column's sessions through a running Vigil (stack.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from processors.decide.policy import Policy
from vigil.apps.bench.accuracy.alternatives import (
    Alternative,
    describe,
    parse_alternative,
    policy_for,
    settings_for,
)
from vigil.apps.bench.sessions.cache import OutputCache
from vigil.apps.bench.sessions.cohort import OwnThresholds
from vigil.apps.bench.sessions.decide import Step, asking, decide_session
from vigil.apps.bench.sessions.layout import SessionSet, load_session_set
from vigil.apps.bench.sessions.metrics import Figure, Ran, summarize
from vigil.apps.bench.sessions.outputs import FrameOutputSource, LazyModels
from vigil.apps.bench.sessions.scenarios import Presentation, person_key, present
from vigil.apps.bench.sessions.stack import StackRun, run_through_stack, with_stack
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchOptions:
    """What `vigil bench sessions` was asked to do."""

    folders: tuple[Path, ...]
    fps: float = 2.0
    capture_fps: float | None = None  # the sets' camera rate (None: every frame is sent)
    compare: tuple[str, ...] = ()
    pair_limit: int | None = None
    seed: int = 0
    swap_window_s: float = 3.0
    cache_dir: Path | None = None
    per_person: bool = False  # own thresholds against the other enrolled people (cohort.py)
    stack: bool = False  # also run the sessions through a running Vigil (stack.py)

    def check(self) -> None:
        """A VigilError (exit code 2) naming the first option out of range."""
        problems = [(self.fps <= 0, "--fps must be above 0"),
                    (self.capture_fps is not None and self.capture_fps <= 0,
                     "--capture-fps must be above 0"),
                    (self.pair_limit is not None and self.pair_limit < 0,
                     "--impostor-pairs must be 0 or more"),
                    (self.swap_window_s < 0, "--swap-window must be 0 or more"),
                    (self.stack and self.per_person,
                     "--stack enrolls through the deployment, which sets its own thresholds: "
                     "leave out --per-person")]
        for bad, message in problems:
            if bad:
                raise VigilError(message, exit_code=2)


@dataclass
class AlternativeRun:
    """One column of the report: who enrolled, every session's steps, and the figures."""

    alternative: Alternative
    settings: Settings
    policy: Policy
    enrolled: dict[str, int] = field(default_factory=dict)  # person -> photos accepted
    refused: dict[str, list[str]] = field(default_factory=dict)  # person -> why, per photo
    presentation: Presentation = field(default_factory=lambda: Presentation([], []))
    runs: list[Ran] = field(default_factory=list)
    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)  # set -> figures
    overall: dict[str, Figure] = field(default_factory=dict)

    @property
    def plugins(self) -> str:
        return describe(self.settings)

    def runs_of(self, set_name: str) -> list[Ran]:
        return [r for r in self.runs if r[0].set_name == set_name]


@dataclass
class SessionsReport:
    """Every alternative over every set, and how the cache served them."""

    options: BenchOptions
    sets: list[SessionSet]
    columns: list[AlternativeRun]
    cache_hits: int = 0
    cache_misses: int = 0
    stack: StackRun | None = None  # what the stack column did not decide or run


def default_cache_dir(settings: Settings) -> Path:
    """Where model outputs are kept between runs unless --cache says otherwise."""
    return settings.deployment.state_dir / "bench-cache" / "sessions"


def _enroll(source: FrameOutputSource, sets: Sequence[SessionSet], column: AlternativeRun
            ) -> dict[str, np.ndarray]:
    """Each person's embeddings, as `vigil enroll` would store them under this alternative."""
    embeddings = {}
    for data in sets:
        for person, photos in data.enroll.items():
            key = person_key(data.name, person)
            report = source.enrollment(photos)
            column.enrolled[key] = len(report.accepted)
            column.refused[key] = [why for _, why in report.refused]
            if report.embeddings:
                embeddings[key] = np.stack(report.embeddings)
    return embeddings


def run_alternative(source: FrameOutputSource, sets: Sequence[SessionSet],
                    column: AlternativeRun, options: BenchOptions) -> None:
    """Every session of every set under one alternative (see the module docstring)."""
    embeddings = _enroll(source, sets, column)
    column.presentation = present(sets, embeddings.keys(), options.pair_limit,
                                  options.seed, options.fps, options.capture_fps)
    sessions = column.presentation.sessions
    outputs = source.frames(sorted({p for s in sessions for p in s.frames}))
    thresholds = OwnThresholds(embeddings, source.settings) if options.per_person else None
    for index, session in enumerate(tqdm(sessions, desc=f"decide {column.alternative.label}",
                                         unit="session", file=sys.stderr, leave=False)):
        steps: list[Step] = decide_session(
            [outputs[p] for p in session.frames], embeddings.get(session.enrolled),
            source.settings, asking(column.policy, session.asked), options.fps,
            session_id=f"s{index}",
            threshold=thresholds.of(session) if thresholds is not None else None)
        column.runs.append((session, steps))
    sum_up(column, sets, options)


def sum_up(column: AlternativeRun, sets: Sequence[SessionSet], options: BenchOptions) -> None:
    """The column's figures per set and over all, from its runs."""
    for data in sets:
        column.figures[data.name] = summarize(column.runs_of(data.name), options.fps,
                                              options.swap_window_s)
    column.overall = summarize(column.runs, options.fps, options.swap_window_s)


def run_sessions(settings: Settings, options: BenchOptions) -> SessionsReport:
    """Run every alternative over every set; the report (report.py prints it)."""
    options.check()
    alternatives = [Alternative("configured"), *(parse_alternative(c) for c in options.compare)]
    variants = [settings_for(settings, a) for a in alternatives]  # fail before any model loads
    policies = [policy_for(v, a) for v, a in zip(variants, alternatives, strict=True)]
    sets = [load_session_set(folder) for folder in options.folders]
    if len({s.name for s in sets}) < len(sets):
        raise VigilError("two session sets share a folder name; give distinct names",
                         exit_code=2)
    cache = OutputCache(options.cache_dir or default_cache_dir(settings))
    models = LazyModels(settings)
    columns = []
    try:
        for alternative, variant, policy in zip(alternatives, variants, policies, strict=True):
            column = AlternativeRun(alternative, variant, policy)
            source = FrameOutputSource(variant, models, cache, alternative.label)
            run_alternative(source, sets, column, options)
            columns.append(column)
    finally:
        cache.close()
    stack = None
    if options.stack:
        stack, column = stack_column(settings, sets, columns[0], options)
        columns.append(column)
    return SessionsReport(options, sets, columns, cache.hits, cache.misses, stack)


def stack_column(settings: Settings, sets: Sequence[SessionSet], first: AlternativeRun,
                 options: BenchOptions) -> tuple[StackRun, AlternativeRun]:
    """The first column's sessions through the stack (stack.py), as one more column."""
    done = with_stack(settings, lambda: run_through_stack(
        settings, sets, first.presentation.sessions, options.fps))
    column = AlternativeRun(Alternative("through the stack"), settings, first.policy,
                            dict(first.enrolled), dict(first.refused),
                            Presentation([s for s, _ in done.runs], []), done.runs)
    sum_up(column, sets, options)
    return done, column
