"""The timeline page over HTTP: order, colours, links, audited thumbnails, roles, bad input,
bounds, and the timeline inside a case export."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from dataclasses import replace
from types import SimpleNamespace
from typing import cast

import cv2
import numpy as np

from console.timeline import (
    MAX_BARS,
    MAX_ROWS,
    ChallengeMark,
    Point,
    Timeline,
    TimelineQuery,
    bars_of,
)
from console.timeline_svg import CHALLENGE_COLOURS, COLOURS, timeline_svg
from schemas.events import Action, Decision, FrameRef, Reason
from sinks.audit_log import verify
from tests.console.conftest import T0, ConsoleUnderTest, record_decisions
from tests.console.http_client import ConsoleClient, Reply
from tests.console.test_console_http import logged_in

ALICE = "/clients/alice/sessions/s-1/timeline"
# A bar of the chart: its link, then its <title>, then its rectangle(s).
BAR = re.compile(r'<a href="([^"]+)"(?: id="(d\d+)")?><title>([^<]*)</title>'
                 r'((?:<rect [^>]*/>)+)')


def bars(page: Reply) -> list[tuple[str, str, str, list[str]]]:
    """(href, anchor id, title, fills) of every bar drawn on a timeline page."""
    return [(html.unescape(href), anchor, title, re.findall(r'fill="(#[0-9a-f]{6}|none)"', rects))
            for href, anchor, title, rects in BAR.findall(page.text)]


def access_lines(app: ConsoleUnderTest) -> list[dict[str, object]]:
    lines = [json.loads(raw) for raw in app.audit_log.read_bytes().splitlines()]
    return [line["event"] for line in lines if line["type"] == "access"]


def test_a_session_page_draws_its_decisions_in_order_coloured_per_action(
        console_app: ConsoleUnderTest) -> None:
    page = logged_in(console_app).get(ALICE)
    assert page.status == 200
    drawn = bars(page)
    # alice's three decisions (lines 1-3), not bob's; each bar opens its decision.
    assert [href for href, *_ in drawn] == ["/decisions/1", "/decisions/2", "/decisions/3"]
    assert [fills for *_, fills in drawn] == [[COLOURS[Action.ALLOW]],
                                              [COLOURS[Action.SIGN_OUT]],
                                              [COLOURS[Action.SIGN_OUT]]]
    titles = [title for _, _, title, _ in drawn]
    assert "sign_out (phone)" in titles[1] and "sign_out (spoof)" in titles[2]
    assert "liveness 0.20" in titles[0]
    # The table lists them oldest first, with the scores.
    assert re.findall(r'<tr id="r(\d+)"', page.text) == ["1", "2", "3"]
    assert page.text.count("<td>0.200</td>") == 3
    assert "3 decision(s); 3 in this window" in page.text
    # The client's page names the session and links to it.
    client_page = logged_in(console_app).get("/clients/bob/timeline")
    assert re.findall(r'<tr id="r(\d+)"', client_page.text) == ["4", "5"]
    assert 'href="/clients/bob/sessions/s-1/timeline"' in client_page.text
    # Long gap between bob's decisions (87 minutes): marked, not hidden.
    assert "gap of 87.0 min" in client_page.text


def test_every_decision_line_links_to_its_place_on_the_timeline(
        console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    listing = client.get("/decisions")
    hrefs = re.findall(r'href="(/clients/[^"]+)"', listing.text)
    assert sorted(hrefs) == sorted(f"/clients/{who}/sessions/s-1/timeline?at={n}#d{n}"
                                   for who, n in [("alice", 1), ("alice", 2), ("alice", 3),
                                                  ("bob", 4), ("bob", 5)])
    decision = client.get("/decisions/4")
    assert 'href="/clients/bob/sessions/s-1/timeline?at=4#d4"' in decision.text
    assert 'href="/clients/bob/timeline"' in decision.text
    page = client.get("/clients/bob/sessions/s-1/timeline?at=4")
    [anchored] = [bar for bar in bars(page) if bar[1]]
    assert anchored[:2] == ("/decisions/4", "d4")
    assert anchored[3][-1] == "none"  # the outline drawn around it
    assert '<tr id="r4" class="focus">' in page.text


def test_thumbnails_are_evidence_views_each_recorded(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    page = client.get(ALICE)
    assert access_lines(console_app) == []  # the page itself opens no evidence
    sources = re.findall(r'<img class="thumb" src="([^"]+)"', page.text)
    assert sources == ["/decisions/2/thumbnail.jpg", "/decisions/3/thumbnail.jpg"]
    thumb = client.get(sources[0])
    assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(thumb.body, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (120, 160, 3)  # the 640x480 frame, scaled down
    [seen] = access_lines(console_app)
    assert seen | {"remote": "-"} == {"access": "thumbnail", "by": "ann", "role": "auditor",
                                      "client_id": "alice", "frame_id": "f-phone-2",
                                      "decision_seq": 2, "remote": "-"}
    # An allow decision kept no evidence: nothing shown, nothing recorded.
    assert client.get("/decisions/1/thumbnail.jpg").status == 404
    assert len(access_lines(console_app)) == 1
    # The decision page lists the thumbnail view among who has seen this evidence.
    assert "<td>thumbnail</td>" in client.get("/decisions/2").text
    assert verify(console_app.audit_log).ok


def test_operators_get_403_and_nothing_is_recorded(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app, "otto")
    for path in (ALICE, "/clients/alice/timeline", "/decisions/2/thumbnail.jpg"):
        page = client.get(path)
        assert page.status == 403 and "this page is for auditors" in page.text
    assert access_lines(console_app) == []
    assert ConsoleClient(console_app.url).get(ALICE).headers["Location"] == "/login"


def test_bad_ids_and_filters_are_refused_and_escaped(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    bad_id = client.get("/clients/%3Cscript%3E/timeline")
    assert bad_id.status == 400 and "is not an id Vigil makes" in bad_id.text
    raw = client.get("/clients/alice/sessions/<b>x/timeline")
    assert raw.status == 400 and "<b>x" not in raw.text and "&lt;b&gt;x" in raw.text
    assert client.get("/clients/..%2F..%2Fetc/timeline").status == 400
    for query, words in [("at=abc", "line number"), ("from=yesterday", "ISO 8601"),
                         (f"from={T0 + 1}&to={T0}", "from is after to"),
                         ("from=" + "9" * 5000, "too long")]:
        page = client.get(f"{ALICE}?{query}")
        assert page.status == 400 and words in page.text, query
    # A line that is not one of this session's decisions.
    assert client.get(f"{ALICE}?at=4").status == 404
    assert client.get(f"{ALICE}?at=999").status == 404
    # An unknown client is no error: it has no decisions.
    assert "0 decision(s)" in client.get("/clients/nobody/timeline").text


def test_the_case_export_holds_the_session_timeline(console_app: ConsoleUnderTest) -> None:
    client = logged_in(console_app)
    page = client.get("/decisions/2")
    reply = client.post("/decisions/2/export", {"csrf": page.hidden("csrf"), "minutes": "15"})
    assert reply.status == 200
    with zipfile.ZipFile(io.BytesIO(reply.body)) as case:
        svg = case.read("timeline.svg").decode()
        data = json.loads(case.read("timeline.json"))
        readme = case.read("README.txt").decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<a " not in svg
    assert 'id="d2"' in svg  # the exported decision is outlined
    assert (data["client_id"], data["session_id"], data["decisions"]) == ("alice", "s-1", 3)
    assert [(b["first_line"], b["worst_action"], b["reasons"]) for b in data["bars"]] == [
        (1, "allow", {"ok": 1}), (2, "sign_out", {"phone": 1}), (3, "sign_out", {"spoof": 1})]
    assert data["bars"][0]["scores"] == {"liveness": [0.2, 0.2]}
    assert "timeline.svg" in readme


def long_session(count: int) -> list[Decision]:
    """One session of ``count`` decisions a second apart: allowed, with a spoof run of 50
    in the middle; liveness falls from 1 towards 0."""
    made = []
    for i in range(count):
        spoof = count // 2 <= i < count // 2 + 50
        at = T0 + i * 1000
        made.append(Decision(
            frame_id=f"long-{i}", client_id="carol", session_id="s-long", seq=i + 1,
            frame=FrameRef(topic="vigil.frames", partition=0, offset=i),
            captured_at=at - 80, received_at=at - 60, decided_at=at,
            action=Action.SIGN_OUT if spoof else Action.ALLOW,
            reason=Reason.SPOOF if spoof else Reason.OK,
            scores={"liveness": 1 - i / count, "distance": 0.5, "phone": 0.01},
            policy_version="1@abcdef01"))
    return made


def test_a_long_session_is_bounded_and_says_so(console_app: ConsoleUnderTest) -> None:
    count = 1200
    record_decisions(console_app.settings, long_session(count), lambda _d: None,
                     first_offset=10)
    client = logged_in(console_app)
    page = client.get("/clients/carol/sessions/s-long/timeline")
    drawn = bars(page)
    assert len(drawn) <= MAX_BARS and f"More than {MAX_BARS} decisions" in page.text
    assert f"{count} decision(s); {count} in this window" in page.text
    # Buckets link to a zoom on their span; the spoof run shows in red, stacked.
    assert all("?from=" in href for href, *_ in drawn)
    assert sum(COLOURS[Action.SIGN_OUT] in fills for *_, fills in drawn) >= 10
    rows = re.findall(r'<tr id="r(\d+)"', page.text)
    assert len(rows) == 3 and "only those whose action or reason differs" in page.text
    # Zooming in to one bar's span lists and draws each of its decisions.
    zoom = client.get(drawn[0][0])
    assert len(bars(zoom)) == len(re.findall(r'<tr id="r(\d+)"', zoom.text)) > 1
    assert all(href.startswith("/decisions/") for href, *_ in bars(zoom))
    # A link from one decision line centres the window on it, one bar per decision.
    line = 5 + 1 + count // 2 + 7  # a spoof decision (after the fixture's 5 lines)
    centred = client.get(f"/clients/carol/sessions/s-long/timeline?at={line}")
    assert len(bars(centred)) == MAX_BARS and f'id="d{line}"' in centred.text
    assert len(re.findall(r'<tr id="r(\d+)"', centred.text)) == min(MAX_ROWS, MAX_BARS)


def test_buckets_keep_every_decision_and_the_extremes_of_each_score() -> None:
    points = [Point.of(i + 1, d) for i, d in enumerate(long_session(5000))]
    drawn = bars_of(points)
    assert len(drawn) <= MAX_BARS
    assert sum(len(bar.points) for bar in drawn) == 5000
    assert [p.seq for bar in drawn for p in bar.points] == list(range(1, 5001))
    first = drawn[0].score_range("liveness")
    assert first is not None and first[1] == 1.0 and first[0] < first[1]
    assert sum(bar.actions[Action.SIGN_OUT] for bar in drawn) == 50


def test_challenges_are_marked_with_their_outcome() -> None:
    asked = ChallengeMark.of(cast(Decision, SimpleNamespace(challenge={
        "id": "c-1", "action": "turn_left", "state": "pending", "issued": True,
        "progress": 0.0, "detail": ""})))
    assert asked is not None and (asked.state, asked.issued) == ("pending", True)
    answered = replace(asked, state="failed", issued=False, progress=0.5,
                       detail="moved as a flat picture")
    decisions = long_session(3)
    assert ChallengeMark.of(decisions[0]) is None  # a decision without one
    points = [replace(Point.of(i + 1, d), challenge=mark)
              for i, (d, mark) in enumerate(zip(decisions, [asked, answered, None],
                                                strict=True))]
    svg = timeline_svg(Timeline(TimelineQuery("carol", "s-long"), 3, points, bars_of(points),
                                points, False))
    drawn = re.findall(r'<g class="challenge"><title>([^<]*)</title><(path|circle) '
                       r'[^>]*fill="(#[0-9a-f]{6})"', svg)
    assert drawn == [
        ("challenge c-1 turn_left: pending (asked)", "path", "#888888"),
        ("challenge c-1 turn_left: failed, moved as a flat picture", "circle",
         CHALLENGE_COLOURS["failed"])]
