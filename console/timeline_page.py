"""The timeline page: the chart, the evidence thumbnails, the sessions and the decisions.

Rendered on the server like every console page: every value escaped, no script.
"""

from __future__ import annotations

from console.pages import e, page
from console.sessions import Session
from console.thumbnails import MAX_THUMBNAILS
from console.timeline import (
    MAX_BARS,
    MAX_ROWS,
    SCORES,
    Bar,
    Point,
    SessionSpan,
    Timeline,
    page_path,
)
from console.timeline_svg import timeline_svg
from schemas.events import Action
from vigil.core.utc import format_utc


def _legend() -> str:
    swatches = "".join(f'<span class="swatch {a.value}">{e(a.value)}</span>' for a in Action)
    return (f'<p class="legend">{swatches} <span>challenge: ◆ asked, ● answered (green '
            "passed, red failed, orange expired, grey waiting)</span></p>")


def _bounds_note(timeline: Timeline, path: str) -> str:
    span = timeline.span
    shown = (f"{len(timeline.window)} in this window, {e(format_utc(span[0]))} to "
             f"{e(format_utc(span[1]))}" if span else "none in this window")
    narrowed = len(timeline.window) < timeline.total
    whole = f' <a href="{e(path)}">Show them all</a>.' if narrowed else ""
    note = f"<p>{timeline.total} decision(s); {shown}.{whole}</p>"
    if timeline.bucketed:
        note += (f"<p class=\"help\">More than {MAX_BARS} decisions: each bar stands for every "
                 "decision in one span of time (stacked by action; the score lanes show the "
                 "lowest to the highest value). Click a bar to zoom in to its span.</p>")
    return note


def _thumbnails(points: list[Point]) -> str:
    if not points:
        return "<p>No evidence frame kept in this window.</p>"
    figures = "".join(
        f'<figure><a href="/decisions/{p.seq}"><img class="thumb" '
        f'src="/decisions/{p.seq}/thumbnail.jpg" width="160" height="120" '
        f'alt="evidence frame {e(p.frame_id)}"></a><figcaption>line {p.seq}, '
        f"{e(format_utc(p.decided_at)[11:23])}<br>{e(p.action.value)} ({e(p.reason)})"
        "</figcaption></figure>" for p in points)
    return f'<div class="thumbs">{figures}</div>'


def _sessions(spans: list[SessionSpan], client_id: str) -> str:
    if not spans:
        return ""
    rows = "".join(
        f'<tr><td><a href="{e(page_path(client_id, s.session_id))}">{e(s.session_id)}</a></td>'
        f"<td>{e(format_utc(s.first.decided_at))}</td><td>{e(format_utc(s.last.decided_at))}"
        f'</td><td>{s.count}</td><td class="{e(s.worst.value)}">{e(s.worst.value)}</td></tr>'
        for s in spans)
    return ("<h2>Sessions</h2><table><tr><th>session</th><th>first decision (UTC)</th>"
            f"<th>last</th><th>decisions</th><th>worst action</th></tr>{rows}</table>")


def _score_cells(point: Point) -> str:
    return "".join(f"<td>{point.scores[name]:.3f}</td>" if name in point.scores else "<td></td>"
                   for name in SCORES)


def _rows(timeline: Timeline) -> str:
    focus = timeline.query.at
    client_page = timeline.query.session_id is None
    rows = []
    for p in timeline.rows:
        challenge = (f"{e(p.challenge.action)}: {e(p.challenge.state)}" if p.challenge else "")
        session = f"<td>{e(p.session_id)}</td>" if client_page else ""
        mark = ' class="focus"' if p.seq == focus else ""
        rows.append(f'<tr id="r{p.seq}"{mark}><td><a href="/decisions/{p.seq}">{p.seq}</a></td>'
                    f"<td>{e(format_utc(p.decided_at))}</td>{session}"
                    f'<td class="{e(p.action.value)}">{e(p.action.value)}</td>'
                    f"<td>{e(p.reason)}</td>{_score_cells(p)}<td>{challenge}</td></tr>")
    note = (f"<p>More than {MAX_ROWS} decisions in this window: listed are only those whose "
            "action or reason differs from the one before"
            + (f" (the first {MAX_ROWS})" if len(timeline.rows) == MAX_ROWS else "")
            + ". Zoom in to list every one.</p>" if timeline.rows_are_changes else "")
    head = "<th>session</th>" if client_page else ""
    return (f"<h2>Decisions, oldest first</h2>{note}<table><tr><th>line</th>"
            f"<th>decided (UTC)</th>{head}<th>action</th><th>reason</th><th>liveness</th>"
            f"<th>distance</th><th>phone</th><th>challenge</th></tr>{''.join(rows)}</table>")


def timeline_page(timeline: Timeline, thumbnails: list[Point], session: Session) -> str:
    """The whole page of one client's or one session's timeline, with these evidence frames
    (console/thumbnails.py)."""
    query = timeline.query
    path = page_path(query.client_id, query.session_id)

    def link(bar: Bar) -> str:
        if len(bar.points) == 1:
            return f"/decisions/{bar.first.seq}"
        return f"{path}?from={bar.first.decided_at}&to={bar.last.decided_at}"

    title = (f"Timeline of session {query.session_id}" if query.session_id
             else f"Timeline of client {query.client_id}")
    up = (f'<p>Client <a href="{e(page_path(query.client_id, None))}">{e(query.client_id)}</a>'
          "</p>" if query.session_id else "")
    bad = (f'<p class="bad">Lines that could not be read: {e(timeline.unreadable)}. '
           '<a href="/verify">Verify the chain</a>.</p>' if timeline.unreadable else "")
    return page(title, f"""{up}
<p class="help">What happened when: a bar per decision, coloured by its action (hover for the
reason, the scores and the audit line; click to open it). Under it, the liveness, match
distance and phone score each decision was made on, and the step-up challenges asked.
Bars are in order and equally spaced: a dashed line marks a long gap in time, a grey line the
start of another session. At most {MAX_BARS} bars are drawn and {MAX_ROWS} decisions listed.
</p>{bad}{_bounds_note(timeline, path)}{_legend()}
<div class="chart">{timeline_svg(timeline, link, query.at)}</div>
<h2>Evidence frames</h2>
<p class="help">The first frame of each run of one non-allow action and reason (at most
{MAX_THUMBNAILS}), decrypted on the server. Each thumbnail shown adds an <code>access</code>
line (<code>thumbnail</code>) to the audit log naming you, as opening a frame does.</p>
{_thumbnails(thumbnails)}{_sessions(timeline.sessions, query.client_id)}
{_rows(timeline)}""", session)
