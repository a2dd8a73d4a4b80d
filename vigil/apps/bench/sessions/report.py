"""The session bench's report: a text (or Markdown) table per set, and JSON.

Rows are the figures of metrics.py, columns the alternatives; every cell carries its counts.
The JSON holds the same figures as numbers and, per session and alternative, every frame's
action, reason and scores (what the plots draw).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vigil.apps.bench.accuracy.metrics import Ratio
from vigil.apps.bench.report import percentile
from vigil.apps.bench.sessions.bench import AlternativeRun, SessionsReport
from vigil.apps.bench.sessions.layout import RECORDED_KINDS
from vigil.apps.bench.sessions.metrics import Figure, PerHour, Ran, Seconds
from vigil.apps.bench.sessions.scenarios import NOBODY
from vigil.apps.bench.sessions.stack import label

ALL_SETS = "all sets"


def _counts_line(set_name: str, column: AlternativeRun, fps: float) -> str:
    """What one set holds under one alternative: people enrolled, sessions per kind, frames."""
    mine = f"{set_name}/"
    enrolled = {k: n for k, n in column.enrolled.items() if k.startswith(mine) and n}
    refused = sum(len(why) for k, why in column.refused.items() if k.startswith(mine))
    runs = column.runs_of(set_name)
    kinds = Counter(s.kind for s, _ in runs)
    frames = len({p for s, _ in runs if s.kind in RECORDED_KINDS for p in s.frames})
    line = (f"{set_name}: people enrolled {len(enrolled)} ({sum(enrolled.values())} photos "
            f"accepted, {refused} refused); sessions: "
            f"{', '.join(f'{n} {kind}' for kind, n in kinds.items()) or 'none'}; {frames} "
            f"recorded frames sent at {fps:g} fps")
    skipped = [s for s in column.presentation.not_enrolled if s.set_name == set_name]
    if skipped:
        line += f"; {len(skipped)} sessions skipped (their person is not enrolled)"
    nobody = sum(1 for s, _ in runs if s.kind == "phone" and s.enrolled == NOBODY)
    if nobody:
        line += f"; {nobody} phone sessions run without an enrollment (person not enrolled)"
    for person, why in column.refused.items():
        if person.startswith(mine) and not column.enrolled.get(person):
            # `vigil enroll`'s reasons without their figures, e.g. "the face is too blurred"
            reasons = sorted({w.split(" (")[0].split(":")[0] for w in why})
            line += f"\n  {person} not enrolled: {'; '.join(reasons) or 'no photo'}"
    return line


def _table(columns: Sequence[AlternativeRun], figures: Sequence[dict[str, Figure]],
           markdown: bool) -> list[str]:
    names = list(dict.fromkeys(n for f in figures for n in f))
    if not names:
        return ["  (no session to measure)"]
    heads = [c.alternative.label for c in columns]
    rows = [[name, *(str(f.get(name, "")) for f in figures)] for name in names]
    if markdown:
        lines = ["| figure | " + " | ".join(heads) + " |",
                 "|---|" + "---|" * len(heads)]
        return lines + ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(r[i]) for r in [["", *heads], *rows]) for i in range(len(heads) + 1)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return [line(["", *heads]), *(line(r) for r in rows)]


def format_report(report: SessionsReport, markdown: bool = False) -> str:
    """The tables, one per set and one over all sets when there are several."""
    o = report.options
    lines = [f"vigil bench sessions {' '.join(str(f) for f in o.folders)}: frames as a webcam "
             f"client sends them at {o.fps:g} fps (640x480, JPEG q60), decided by the decide "
             "stage's Decider",
             "  identity: " + ("each person's own threshold against the others enrolled here, "
                               "the person presented left out (--per-person)" if o.per_person
                               else "the global verify threshold")]
    for column in report.columns:
        lines.append(f"  {column.alternative.label}: {column.plugins}; policy "
                     f"{column.policy.version}")
    lines.append(f"  model outputs (a face and a phone half per frame, a face per enrollment "
                 f"photo): {report.cache_hits} from the cache, {report.cache_misses} computed")
    for data in report.sets:
        lines += ["", _counts_line(data.name, report.columns[0], o.fps)]
        lines += _table(report.columns, [c.figures[data.name] for c in report.columns],
                        markdown)
    if len(report.sets) > 1:
        lines += ["", f"{ALL_SETS}:"]
        lines += _table(report.columns, [c.overall for c in report.columns], markdown)
    return "\n".join(lines + _frame_lines(report.columns, report.stack is not None)
                     + _stack_lines(report))


def _frame_lines(columns: Sequence[AlternativeRun], stack: bool = False) -> list[str]:
    """Per alternative: frames whose phone half was reused (the detector not run), and frames
    decided otherwise (action or reason) than the first column, session by session. The
    stack column, last when ``stack``, has its own lines (_stack_lines)."""
    lines = [""]
    first = columns[0]
    for column in columns[:-1] if stack else columns:
        steps = [step for _, ran in column.runs for step in ran]
        line = (f"{column.alternative.label}: phone detector reused on "
                f"{sum(s.phone_reused for s in steps)} of {len(steps)} frames")
        if column is not first:
            differ = _differing(first.runs, column.runs)
            line += ("; sessions differ from the first column's, frames not compared"
                     if differ is None else
                     f"; {differ} of {len(steps)} frames decided otherwise than "
                     f"{first.alternative.label}")
        lines.append(line)
    return lines


def _differing(base: Sequence[Ran], other: Sequence[Ran],
               compared: Mapping[str, list[bool]] | None = None) -> int | None:
    """Frames whose (action, reason) differ between two columns' runs of the same sessions
    (``other`` may run fewer of them: the stack column, which compares only the frames
    ``compared`` marks); None when ``other`` ran a session ``base`` did not."""
    per_session = _differing_sessions(base, other, compared)
    return None if per_session is None else sum(per_session.values())


def _differing_sessions(base: Sequence[Ran], other: Sequence[Ran],
                        compared: Mapping[str, list[bool]] | None = None
                        ) -> dict[str, int] | None:
    """Per session of ``other``, its frames decided otherwise than in ``base`` (see above)."""
    key = lambda s: (s.name, s.kind, s.enrolled)  # noqa: E731
    by_key = {key(s): steps for s, steps in base}
    if any(key(s) not in by_key for s, _ in other):
        return None
    marks = compared or {}
    return {label(s): sum((a.action, a.reason) != (b.action, b.reason)
                          for a, b, mark in zip(by_key[key(s)], steps,
                                                marks.get(label(s), [True] * len(steps)),
                                                strict=True) if mark)
            for s, steps in other}


def _stack_lines(report: SessionsReport) -> list[str]:
    """What the stack column ran, left out and did not decide, and where it differed."""
    stack = report.stack
    if stack is None:
        return []
    undecided = {name: flags.count(False) for name, flags in stack.decided.items()}
    in_blocked = sum(n for name, n in undecided.items() if name in stack.blocked)
    frames = sum(len(flags) for flags in stack.decided.values())
    decided = frames - sum(undecided.values())
    lines = ["", f"through the stack: {len(stack.runs)} sessions, one client at a time, "
             f"{frames} frames sent: {decided} decided; "
             f"{in_blocked} not, after the server blocked the client ({len(stack.blocked)} "
             f"sessions; counted as block); {frames - decided - in_blocked} not, "
             "otherwise (counted as not allowed)"]
    if stack.latencies_s:
        p50, p95 = (percentile(stack.latencies_s, q) * 1000 for q in (50, 95))
        lines.append(f"  decision latency (sent -> received) p50 {p50:.0f} ms, "
                     f"p95 {p95:.0f} ms over {len(stack.latencies_s)} frames")
    lines += [f"  not run: {n} {why}" for why, n in stack.skipped.items()]
    lines += [f"  not enrolled: {name}: {why}" for name, why in stack.refused.items()]
    first = report.columns[0]
    per_session = _differing_sessions(first.runs, stack.runs, stack.decided) or {}
    differing = {name: n for name, n in per_session.items() if n}
    lines.append(f"  frames decided otherwise than {first.alternative.label} (of those the "
                 f"stack decided): {sum(differing.values())} of {decided}, in "
                 f"{len(differing)} of {len(per_session)} sessions")
    lines += [f"    {name}: {n} of {stack.decided[name].count(True)} frames"
              for name, n in differing.items()]
    return lines


def figure_json(figure: Figure) -> dict[str, Any]:
    """A figure as numbers, counts included."""
    if isinstance(figure, Ratio):
        return {"count": figure.count, "total": figure.total, "rate": figure.value}
    if isinstance(figure, Seconds):
        return {"n": len(figure.values), "of": figure.of, "median_s": figure.quantile(50),
                "p95_s": figure.quantile(95), "values_s": list(figure.values)}
    assert isinstance(figure, PerHour)
    return {"count": figure.count, "hours": figure.hours,
            "per_hour": figure.count / figure.hours if figure.hours else None}


def _session_json(ran: Ran) -> dict[str, Any]:
    session, steps = ran
    return {"kind": session.kind, "set": session.set_name, "name": session.name,
            "enrolled": session.enrolled, "swap_at": session.swap_at,
            "asked": session.asked.value if session.asked else None,
            "frames": [str(p) for p in session.frames], "t_s": [s.t_s for s in steps],
            "action": [s.action.value for s in steps], "reason": [s.reason.value for s in steps],
            "liveness": [s.liveness for s in steps], "distance": [s.distance for s in steps],
            "phone": [s.phone for s in steps],
            "challenge": [s.challenge.value if s.challenge else None for s in steps],
            "phone_reused": [s.phone_reused for s in steps]}


def _figures_json(figures: dict[str, Figure]) -> dict[str, Any]:
    return {name: figure_json(figure) for name, figure in figures.items()}


def report_json(report: SessionsReport) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    o = report.options
    return {
        "folders": [str(f) for f in o.folders], "fps": o.fps, "capture_fps": o.capture_fps,
        "seed": o.seed, "pair_limit": o.pair_limit, "swap_window_s": o.swap_window_s,
        "per_person": o.per_person,
        "cache": {"hits": report.cache_hits, "misses": report.cache_misses},
        "alternatives": [{
            "label": c.alternative.label, "plugins": c.plugins, "policy": c.policy.version,
            "enrolled": c.enrolled, "refused": c.refused,
            "not_enrolled": [s.name for s in c.presentation.not_enrolled],
            "overall": _figures_json(c.overall),
            "sets": {name: _figures_json(figures) for name, figures in c.figures.items()},
            "sessions": [_session_json(r) for r in c.runs],
        } for c in report.columns],
        "stack": None if report.stack is None else {
            "decided": report.stack.decided, "blocked": sorted(report.stack.blocked),
            "not_run": report.stack.skipped,
            "not_enrolled": report.stack.refused, "latencies_s": report.stack.latencies_s},
    }


def write_json(report: SessionsReport, path: Path) -> None:
    """Write report_json to ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_json(report), indent=1), encoding="utf-8")
