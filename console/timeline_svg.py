"""The timeline drawn as SVG on the server: no script, so the console's CSP stays strict.

Lanes, top to bottom: challenges, decisions (a bar per decision or span, coloured per action,
stacked by action in a span), then liveness, match distance and phone score (a dot per
decision, a line from minimum to maximum per span). Bars are equally spaced in order; a
dashed line marks a long gap in time, a grey line the start of another session. Every mark
has a ``<title>`` (shown on hover) naming its line(s), time, action, reason and scores.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from itertools import pairwise

from console.timeline import Bar, ChallengeMark, Timeline
from schemas.events import Action
from vigil.core.utc import format_utc

WIDTH, LEFT, RIGHT = 960, 96, 12
PLOT = WIDTH - LEFT - RIGHT
COLOURS = {Action.ALLOW: "#3a8f3a", Action.LOCK_SCREEN: "#e0a800",
           Action.SIGN_OUT: "#c0392b", Action.BLOCK: "#5b2c83"}
STACK_ORDER = (Action.ALLOW, Action.LOCK_SCREEN, Action.SIGN_OUT, Action.BLOCK)
CHALLENGE_COLOURS = {"passed": "#3a8f3a", "failed": "#c0392b", "expired": "#e67e22"}
CHALLENGE_RANK = {"failed": 3, "expired": 2, "passed": 1}  # the state a span shows
# (label, top, height) of each lane; scores: (name, label, fixed maximum or None)
CHALLENGE_LANE = (6, 20)
DECISION_LANE = (32, 72)
SCORE_LANES = (("liveness", "liveness", 1.0, 116), ("distance", "match distance", None, 176),
               ("phone", "phone score", 1.0, 236))
SCORE_HEIGHT = 48
HEIGHT = 318
GAP_FACTOR = 5  # a gap this many times the usual spacing (and over GAP_MIN_MS) is marked
GAP_MIN_MS = 10_000
GAP_ALWAYS_MS = 300_000  # whatever the usual spacing (two bars have no "usual")


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _x(index: int, count: int) -> float:
    """The centre of bar ``index`` of ``count``."""
    return LEFT + PLOT * (index + 0.5) / count


def _bar_width(count: int) -> float:
    return max(1.0, min(24.0, PLOT / count * 0.8))


def _scores_text(bar: Bar) -> str:
    parts = []
    for name, label, _top, _y in SCORE_LANES:
        found = bar.score_range(name)
        if found is not None:
            low, high = found
            parts.append(f"{label} {low:.2f}" + (f" to {high:.2f}" if high != low else ""))
    return "; ".join(parts)


def _challenge_text(marks: list[ChallengeMark]) -> str:
    return "; ".join(f"challenge {m.id} {m.action}: {m.state}" + (" (asked)" if m.issued else "")
                     + (f", {m.detail}" if m.detail else "") for m in marks)


def bar_title(bar: Bar) -> str:
    """What hovering over a bar says."""
    if len(bar.points) == 1:
        p = bar.first
        head = (f"line {p.seq}, {format_utc(p.decided_at)}: {p.action.value} ({p.reason}), "
                f"session {p.session_id}")
    else:
        actions = ", ".join(f"{a.value} {n}" for a, n in bar.actions.most_common())
        reasons = ", ".join(f"{r} {n}" for r, n in bar.reasons.most_common())
        head = (f"lines {bar.first.seq}-{bar.last.seq}, {format_utc(bar.first.decided_at)} to "
                f"{format_utc(bar.last.decided_at)}: {len(bar.points)} decisions: {actions}; "
                f"reasons: {reasons}; click to zoom in")
    return ". ".join(t for t in (head, _scores_text(bar), _challenge_text(bar.challenges())) if t)


def _decision_marks(bar: Bar, index: int, count: int) -> str:
    top, height = DECISION_LANE
    width = _bar_width(count)
    x = _x(index, count) - width / 2
    if len(bar.points) == 1:
        return (f'<rect x="{x:.1f}" y="{top}" width="{width:.1f}" height="{height}" '
                f'fill="{COLOURS[bar.worst]}"/>')
    rects, bottom, counts = [], float(top + height), bar.actions
    for action in STACK_ORDER:  # stacked by action, allow at the bottom
        if counts[action]:
            h = max(1.0, height * counts[action] / len(bar.points))
            bottom -= h
            rects.append(f'<rect x="{x:.1f}" y="{max(top, bottom):.1f}" width="{width:.1f}" '
                         f'height="{h:.1f}" fill="{COLOURS[action]}"/>')
    return "".join(rects)


def _challenge_mark(bar: Bar, index: int, count: int) -> str:
    marks = bar.challenges()
    if not marks:
        return ""
    state = max((m.state for m in marks), key=lambda s: CHALLENGE_RANK.get(s, 0))
    colour = CHALLENGE_COLOURS.get(state, "#888888")
    x, (top, height) = _x(index, count), CHALLENGE_LANE
    y, r = top + height / 2, min(7.0, max(3.0, _bar_width(count) / 2))
    shape = (f'<path d="M{x:.1f} {y - r:.1f} L{x + r:.1f} {y:.1f} L{x:.1f} {y + r:.1f} '
             f'L{x - r:.1f} {y:.1f} Z" fill="{colour}"/>' if any(m.issued for m in marks)
             else f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"/>')
    return f'<g class="challenge"><title>{e(_challenge_text(marks))}</title>{shape}</g>'


def _score_marks(timeline: Timeline) -> str:
    out, count = [], len(timeline.bars)
    for name, label, fixed, top in SCORE_LANES:
        ranges = [bar.score_range(name) for bar in timeline.bars]
        highest = fixed or max([1.0] + [r[1] for r in ranges if r is not None])
        out.append(f'<text x="{LEFT - 6}" y="{top + 12}" text-anchor="end">{e(label)}</text>'
                   f'<text x="{LEFT - 6}" y="{top + SCORE_HEIGHT}" text-anchor="end">'
                   f"0 to {highest:.2f}</text>"
                   f'<rect x="{LEFT}" y="{top}" width="{PLOT}" height="{SCORE_HEIGHT}" '
                   'fill="#f7f7f7"/>')

        def y(value: float, top: int = top, highest: float = highest) -> float:
            return top + SCORE_HEIGHT * (1 - min(value, highest) / highest)

        out.append(_trend(ranges, count, y))
        for index, found in enumerate(ranges):
            if found is None:
                continue
            x, (low, high) = _x(index, count), found
            mark = (f'<circle cx="{x:.1f}" cy="{y(low):.1f}" r="2.5" fill="#1f4e79"/>'
                    if high == low else
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(high):.1f}" y2="{y(low):.1f}" '
                    f'stroke="#1f4e79" stroke-width="{max(1.5, _bar_width(count) / 2):.1f}"/>')
            span = f"{low:.3f}" + (f" to {high:.3f}" if high != low else "")
            out.append(f"<g><title>{e(label)} {span}</title>{mark}</g>")
    return "".join(out)


def _trend(ranges: list[tuple[float, float] | None], count: int,
           y: Callable[[float], float]) -> str:
    """Faint lines joining the middles of neighbouring bars' values: the score's course."""
    lines = []
    for index, (before, after) in enumerate(pairwise(ranges)):
        if before is not None and after is not None:
            lines.append(f'<line x1="{_x(index, count):.1f}" y1="{y(sum(before) / 2):.1f}" '
                         f'x2="{_x(index + 1, count):.1f}" y2="{y(sum(after) / 2):.1f}"/>')
    return f'<g stroke="#1f4e79" stroke-opacity="0.35">{"".join(lines)}</g>' if lines else ""


def _separators(bars: list[Bar]) -> str:
    """Dashed lines at long gaps in time, grey lines where another session starts."""
    if len(bars) < 2:
        return ""
    pairs = list(pairwise(bars))
    gaps = [b.first.decided_at - a.last.decided_at for a, b in pairs]
    usual = sorted(gaps)[len(gaps) // 2]
    out = []
    for index, ((before, after), gap) in enumerate(zip(pairs, gaps, strict=True), start=1):
        x = LEFT + PLOT * index / len(bars)
        line = f'<line x1="{x:.1f}" x2="{x:.1f}" y1="2" y2="{HEIGHT - 26}" stroke="#555"'
        if after.first.session_id != before.last.session_id:
            out.append(f"<g><title>session {e(after.first.session_id)} starts at "
                       f"{e(format_utc(after.first.decided_at))}</title>{line} "
                       'stroke-width="2" opacity="0.5"/></g>')
        elif gap > min(GAP_ALWAYS_MS, max(GAP_MIN_MS, GAP_FACTOR * usual)):
            out.append(f"<g><title>gap of {gap / 60_000:.1f} min</title>{line} "
                       'stroke-dasharray="4 3"/></g>')
    return "".join(out)


def _time_axis(bars: list[Bar]) -> str:
    count = len(bars)
    ticks = sorted({round(k * (count - 1) / 5) for k in range(6)}) if count > 1 else [0]
    labels = []
    for i in ticks:  # the first and last kept inside the plot's edges
        x, anchor = _x(i, count), "middle"
        if i == 0:
            x, anchor = max(LEFT, x - 25), "start"
        elif i == count - 1:
            x, anchor = min(WIDTH - RIGHT, x + 25), "end"
        labels.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                      f"{e(format_utc(bars[i].first.decided_at)[11:19])}</text>")
    day = format_utc(bars[0].first.decided_at)[:10]
    return f'<text x="{LEFT - 6}" y="{HEIGHT - 8}" text-anchor="end">{e(day)} UTC</text>' + (
        "".join(labels))


def timeline_svg(timeline: Timeline, link: Callable[[Bar], str] | None = None,
                 focus: int | None = None) -> str:
    """The chart as one SVG element; ``link`` gives each bar's href (None: no links), and the
    bar holding decision line ``focus`` is outlined and gets the anchor id ``d{focus}``."""
    bars, count = timeline.bars, len(timeline.bars)
    who = timeline.query.session_id or timeline.query.client_id
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} '
            f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
            f'font-size="11" role="img"><title>Timeline of {e(who)}</title>')
    if not bars:
        return head + f'<text x="{LEFT}" y="60">No decisions in this window.</text></svg>'
    top, height = DECISION_LANE
    parts = [head, f'<text x="{LEFT - 6}" y="{CHALLENGE_LANE[0] + 14}" text-anchor="end">'
             f'challenges</text><text x="{LEFT - 6}" y="{top + 40}" text-anchor="end">'
             "decisions</text>"]
    for index, bar in enumerate(bars):
        marks = _decision_marks(bar, index, count)
        anchor = f' id="d{focus}"' if focus is not None and bar.holds(focus) else ""
        if anchor:
            width = _bar_width(count) + 4
            marks += (f'<rect x="{_x(index, count) - width / 2:.1f}" y="{top - 3}" '
                      f'width="{width:.1f}" height="{height + 6}" fill="none" stroke="#000" '
                      'stroke-width="2"/>')
        body = f"<title>{e(bar_title(bar))}</title>{marks}"
        parts.append(f'<a href="{e(link(bar))}"{anchor}>{body}</a>' if link is not None
                     else f"<g{anchor}>{body}</g>")
        parts.append(_challenge_mark(bar, index, count))
    parts += [_score_marks(timeline), _separators(bars), _time_axis(bars), "</svg>"]
    return "".join(parts)
