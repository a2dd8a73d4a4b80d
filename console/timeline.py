"""What the timeline page shows: one client's (or one session's) decisions, in order, bounded.

A session of hours holds thousands of decisions. The chart draws at most ``MAX_BARS`` bars:
one per decision while the window holds that few, else the window is cut into ``MAX_BARS``
equal spans of time and each non-empty span is one bar (its actions counted, the minimum and
maximum of each score kept). The table under it lists at most ``MAX_ROWS`` decisions (every
decision, or else only those whose action or reason changed). The evidence frames shown
with it are console/thumbnails.py's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from console.audit_view import read_lines
from schemas.events import SAFE_ID_PATTERN, Action, Decision
from vigil.core.utc import TimeFormatError, parse_utc

MAX_BARS = 240  # bars drawn in one chart
MAX_ROWS = 240  # decision rows listed under it
SCORES = ("liveness", "distance", "phone")  # plotted under the decisions (Decision.scores)
SEVERITY = {Action.ALLOW: 0, Action.LOCK_SCREEN: 1, Action.SIGN_OUT: 2, Action.BLOCK: 3}
_SAFE_ID = re.compile(SAFE_ID_PATTERN)
_MAX_TIME_CHARS = 40  # longer is no time anyone typed (and int() of 5,000 digits raises)


@dataclass(frozen=True)
class ChallengeMark:
    """A step-up challenge as one decision reports it (``Decision.challenge``)."""

    id: str
    action: str
    state: str
    issued: bool
    progress: float
    detail: str

    @classmethod
    def of(cls, decision: Decision) -> ChallengeMark | None:
        """The decision's challenge, when it carries one (older decisions never do)."""
        found: Any = getattr(decision, "challenge", None)
        if found is None:
            return None
        value = found if isinstance(found, Mapping) else found.model_dump(mode="json")
        return cls(str(value.get("id", "")), str(value.get("action", "")),
                   str(value.get("state", "")), bool(value.get("issued", False)),
                   float(value.get("progress", 0.0)), str(value.get("detail", "")))


@dataclass(frozen=True)
class Point:
    """One decision, as the timeline needs it; ``seq`` is its line in the audit log."""

    seq: int
    decided_at: int
    client_id: str
    session_id: str
    frame_id: str
    action: Action
    reason: str
    scores: dict[str, float]
    challenge: ChallengeMark | None

    @classmethod
    def of(cls, seq: int, decision: Decision) -> Point:
        return cls(seq, decision.decided_at, decision.client_id, decision.session_id,
                   decision.frame_id, decision.action, decision.reason.value,
                   {k: decision.scores[k] for k in SCORES if k in decision.scores},
                   ChallengeMark.of(decision))


@dataclass(frozen=True)
class Bar:
    """One bar of the chart: one decision, or every decision in a span of time."""

    points: tuple[Point, ...]

    @property
    def first(self) -> Point:
        return self.points[0]

    @property
    def last(self) -> Point:
        return self.points[-1]

    @property
    def actions(self) -> Counter[Action]:
        return Counter(p.action for p in self.points)

    @property
    def reasons(self) -> Counter[str]:
        return Counter(p.reason for p in self.points)

    @property
    def worst(self) -> Action:
        return max((p.action for p in self.points), key=SEVERITY.__getitem__)

    def score_range(self, name: str) -> tuple[float, float] | None:
        values = [p.scores[name] for p in self.points if name in p.scores]
        return (min(values), max(values)) if values else None

    def challenges(self) -> list[ChallengeMark]:
        return [p.challenge for p in self.points if p.challenge is not None]

    def holds(self, seq: int) -> bool:
        return any(p.seq == seq for p in self.points)


@dataclass(frozen=True)
class TimelineQuery:
    """Whose decisions, and which part: a time window (UTC ms) and a decision to show."""

    client_id: str
    session_id: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    at: int | None = None  # the audit line of a decision to centre on and mark


def timeline_query(client_id: str, session_id: str | None, query: Mapping[str, str]
                   ) -> tuple[TimelineQuery | None, str]:
    """The query a page asks for, or None and what is wrong with it."""
    for name, value in (("client", client_id), ("session", session_id)):
        if value is not None and not _SAFE_ID.fullmatch(value):
            return None, f"{name} id {value[:140]!r} is not an id Vigil makes"
    given = {k: v.strip() for k, v in query.items() if v.strip()}
    at = given.get("at")
    if at is not None and not (at.isdigit() and len(at) <= 12):
        return None, f"at={at[:40]!r}: expected the line number of a decision"
    try:
        start, end = (_time(given.get(k)) for k in ("from", "to"))
    except TimeFormatError as exc:
        return None, str(exc)
    if start is not None and end is not None and start > end:
        return None, "from is after to"
    return TimelineQuery(client_id, session_id, start, end, int(at) if at else None), ""


def _time(text: str | None) -> int | None:
    if text is None:
        return None
    if len(text) > _MAX_TIME_CHARS:
        raise TimeFormatError(f"time {text[:_MAX_TIME_CHARS]!r}...: too long")
    return parse_utc(text)


@dataclass(frozen=True)
class SessionSpan:
    """One session of the client: its first and last decision and how many it had."""

    session_id: str
    first: Point
    last: Point
    count: int
    worst: Action


@dataclass
class Timeline:
    """A client's or session's decisions, reduced to what the page draws and lists."""

    query: TimelineQuery
    total: int  # decisions of the client (or session), whatever the window
    window: list[Point]  # the decisions in the window, oldest first
    bars: list[Bar]
    rows: list[Point]
    rows_are_changes: bool  # rows lists only changes of action or reason (too many)
    sessions: list[SessionSpan] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)

    @property
    def bucketed(self) -> bool:
        return len(self.bars) < len(self.window)

    @property
    def span(self) -> tuple[int, int] | None:
        return (self.window[0].decided_at, self.window[-1].decided_at) if self.window else None


def load_points(path: Path, client_id: str, session_id: str | None,
                unreadable: list[int]) -> list[Point]:
    """The client's (or session's) decisions in the audit log, in log order."""
    points = []
    for line in read_lines(path, unreadable):
        if line.type != "decision" or line.client_id != client_id:
            continue
        try:
            decision = line.decision()
        except ValidationError:
            unreadable.append(line.seq)
            continue
        if session_id is None or decision.session_id == session_id:
            points.append(Point.of(line.seq, decision))
    return points


def _window(points: list[Point], query: TimelineQuery) -> list[Point]:
    if query.start_ms is not None or query.end_ms is not None:
        low = query.start_ms if query.start_ms is not None else 0
        high = query.end_ms if query.end_ms is not None else 2**63
        return [p for p in points if low <= p.decided_at <= high]
    if query.at is None or len(points) <= MAX_BARS:
        return points
    # Centred on the decision asked for: MAX_BARS decisions around it, one bar each.
    index = next(i for i, p in enumerate(points) if p.seq == query.at)
    start = max(0, min(index - MAX_BARS // 2, len(points) - MAX_BARS))
    return points[start:start + MAX_BARS]


def bars_of(points: list[Point], limit: int = MAX_BARS) -> list[Bar]:
    """One bar per decision, or (more than ``limit``) one per non-empty span of time."""
    if len(points) <= limit:
        return [Bar((p,)) for p in points]
    start, end = points[0].decided_at, points[-1].decided_at
    width = (end - start) / limit or 1.0
    spans: dict[int, list[Point]] = {}
    for point in points:
        spans.setdefault(min(limit - 1, int((point.decided_at - start) / width)),
                         []).append(point)
    return [Bar(tuple(spans[k])) for k in sorted(spans)]


def changes(points: Iterable[Point]) -> list[Point]:
    """The decisions whose action or reason differs from the one before."""
    changed, before = [], None
    for point in points:
        if (point.action, point.reason) != before:
            changed.append(point)
            before = (point.action, point.reason)
    return changed


def sessions_of(points: list[Point]) -> list[SessionSpan]:
    """The client's sessions in the order they started."""
    grouped: dict[str, list[Point]] = {}
    for point in points:
        grouped.setdefault(point.session_id, []).append(point)
    return [SessionSpan(sid, ps[0], ps[-1], len(ps), Bar(tuple(ps)).worst)
            for sid, ps in grouped.items()]


def build_timeline(path: Path, query: TimelineQuery) -> Timeline | None:
    """The timeline a query asks for; None when ``at`` names no decision of that scope."""
    unreadable: list[int] = []
    points = load_points(path, query.client_id, query.session_id, unreadable)
    if query.at is not None and not any(p.seq == query.at for p in points):
        return None
    window = _window(points, query)
    many = len(window) > MAX_ROWS
    rows = (changes(window) if many else window)[:MAX_ROWS]
    return Timeline(query, len(points), window, bars_of(window), rows, many,
                    sessions_of(points) if query.session_id is None else [], unreadable)


def page_path(client_id: str, session_id: str | None) -> str:
    """The timeline page of a client, or of one of its sessions (ids are safe in a path)."""
    client = f"/clients/{client_id}"
    return f"{client}/sessions/{session_id}/timeline" if session_id else f"{client}/timeline"


def decision_href(client_id: str, session_id: str, seq: int) -> str:
    """Where a decision line's link goes: its session's timeline, centred on it."""
    return f"{page_path(client_id, session_id)}?at={seq}#d{seq}"


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """The chart's data, as the case export keeps it beside the SVG."""
    query = timeline.query
    return {
        "client_id": query.client_id, "session_id": query.session_id,
        "decisions": timeline.total, "in_window": len(timeline.window),
        "bucketed": timeline.bucketed, "max_bars": MAX_BARS,
        "bars": [{
            "first_line": bar.first.seq, "last_line": bar.last.seq,
            "from_ms": bar.first.decided_at, "to_ms": bar.last.decided_at,
            "count": len(bar.points), "worst_action": bar.worst.value,
            "actions": {a.value: n for a, n in sorted(bar.actions.items())},
            "reasons": dict(sorted(bar.reasons.items())),
            "scores": {name: list(r) for name in SCORES if (r := bar.score_range(name))},
            "challenges": [asdict(c) for c in bar.challenges()],
        } for bar in timeline.bars],
    }
