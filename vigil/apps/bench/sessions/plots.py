"""A timeline per session (PNG): each alternative's action per frame as coloured bars, and the
main face's liveness, match distance and best phone score under them.

Written for the recorded sessions and the swaps (the swap marked by a vertical line); the
impostor sessions are genuine sessions at another enrollment, summed up in the report only.
File: ``OUT/<set>/<kind>/<session>.png``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from schemas.events import Action
from vigil.apps.bench.sessions.decide import Step
from vigil.apps.bench.sessions.report import SessionsReport
from vigil.apps.bench.sessions.scenarios import IMPOSTOR, Presented

COLOURS = {Action.ALLOW: "#2ca02c", Action.LOCK_SCREEN: "#ff7f0e",
           Action.SIGN_OUT: "#d62728", Action.BLOCK: "#000000"}
SCORES = (("liveness", "liveness"), ("distance", "match distance"), ("phone", "phone score"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@>-]+", "_", name).replace(">", "_to_")


def plot_session(session: Presented, labelled: Sequence[tuple[str, list[Step]]], fps: float,
                 path: Path, thresholds: dict[str, float]) -> Path:
    """One session's timeline under each alternative (label, steps) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1 + len(SCORES), 1, sharex=True, figsize=(10, 6.5),
                             gridspec_kw={"height_ratios": [max(1, len(labelled)), 1, 1, 1]})
    width = 1.0 / fps
    for row, (label, steps) in enumerate(labelled):
        axes[0].broken_barh([(s.t_s, width) for s in steps], (row - 0.4, 0.8),
                            facecolors=[COLOURS[s.action] for s in steps])
        for field, ax in zip((f for f, _ in SCORES), axes[1:], strict=True):
            values = [(s.t_s + width / 2, getattr(s, field)) for s in steps
                      if getattr(s, field) is not None]
            if values:
                ax.plot(*zip(*values, strict=True), marker=".", label=label)
    axes[0].set_yticks(range(len(labelled)), [label for label, _ in labelled])
    axes[0].set_title(f"{session.kind} {session.name} (enrolled: {session.enrolled})")
    handles = [matplotlib.patches.Patch(color=c, label=a.value) for a, c in COLOURS.items()]
    axes[0].legend(handles=handles, loc="upper right", fontsize="small", ncol=4)
    for (field, title), ax in zip(SCORES, axes[1:], strict=True):
        ax.set_ylabel(title)
        if field in thresholds:
            ax.axhline(thresholds[field], color="grey", linestyle="--", linewidth=0.8)
    if len(labelled) > 1:
        axes[1].legend(fontsize="small")
    if session.swap_at is not None:
        for ax in axes:
            ax.axvline(session.swap_at / fps, color="purple", linewidth=1.2)
    axes[-1].set_xlabel("seconds from the first frame")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_sessions(report: SessionsReport, out: Path) -> list[Path]:
    """Every recorded and swap session's timeline; the paths written."""
    first = report.columns[0]
    thresholds = {"liveness": first.policy.liveness_threshold,
                  "distance": first.policy.verify_threshold,
                  "phone": first.policy.phone_threshold}
    labelled: dict[tuple[str, str, str], list[tuple[str, list[Step]]]] = {}
    sessions: dict[tuple[str, str, str], Presented] = {}
    for column in report.columns:
        for session, steps in column.runs:
            if session.kind == IMPOSTOR:
                continue
            key = (session.set_name, session.kind, session.name)
            sessions.setdefault(key, session)
            labelled.setdefault(key, []).append((column.alternative.label, steps))
    return [plot_session(sessions[key], rows, report.options.fps,
                         out / _safe(key[0]) / key[1] / f"{_safe(key[2])}.png", thresholds)
            for key, rows in labelled.items()]
