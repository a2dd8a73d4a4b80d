"""The timeline of a real session in headless Chromium: drawn, linked, its evidence shown.

The session's decisions come from real frames through the real face chain, phone detector
and Decider (tests/console/real_session.py); the evidence frames are those JPEGs. Screenshots
go to the test's tmp dir and to ``test-output/console/`` (git-ignored).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from console.timeline_svg import COLOURS
from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.results import PhoneDetections
from schemas.events import Action
from sinks.audit_log import verify
from tests.console.conftest import ConsoleUnderTest, record_decisions
from tests.console.real_session import CLIENT, SESSION, RealSession, decide_real_session
from tests.console.test_console_browser import SHOTS, browser  # noqa: F401 (fixture)
from tests.vision.conftest import (  # noqa: F401 (fixtures)
    TESTDATA,
    chain,
    needs_testdata,
    phone,
    vision_settings,
)
from vigil.core.settings import Settings

pytestmark = [pytest.mark.browser, needs_testdata]


@pytest.fixture
def real_session(console_app: ConsoleUnderTest, vision_settings: Settings,  # noqa: F811
                 chain: FaceChain,  # noqa: F811
                 phone: FramePlugin[PhoneDetections]) -> RealSession:  # noqa: F811
    """A real session recorded into the console's audit log and evidence folder."""
    made = decide_real_session(TESTDATA, vision_settings, chain, phone)
    record_decisions(console_app.settings, made.decisions,
                     lambda decision: made.jpegs[decision.frame_id], first_offset=100)
    return made


def test_the_timeline_of_a_real_session_renders_with_its_evidence(
        browser: object, console_app: ConsoleUnderTest,  # noqa: F811
        real_session: RealSession, tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    decisions = real_session.decisions
    actions = [d.action for d in decisions]
    # The real chain decided a story worth drawing: every action appears.
    assert set(actions) == set(Action), actions
    page = browser.new_context().new_page()
    page.set_default_timeout(15_000)
    page.goto(console_app.url + "/login")
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Credential").fill(console_app.auditor)
    page.get_by_role("button", name="Log in").click()

    # From the decisions list: the first sign-out of the session, to its place on the timeline.
    page.goto(f"{console_app.url}/decisions?client={CLIENT}&action=sign_out")
    first_out = 5 + 1 + actions.index(Action.SIGN_OUT)  # after the fixture's five lines
    page.locator("tr", has=page.get_by_role("link", name=str(first_out), exact=True)
                 ).get_by_role("link", name="timeline").click()
    expect(page.get_by_role("heading", name=f"Timeline of session {SESSION}")).to_be_visible()
    assert page.url.endswith(f"?at={first_out}#d{first_out}")
    expect(page.locator(f"#d{first_out}")).to_be_in_viewport()

    # A bar per decision, in order, coloured by its action, its reason in its title.
    drawn = page.eval_on_selector_all("svg.timeline > a", """bars => bars.map(bar => [
        bar.getAttribute('href'), bar.querySelector('rect').getAttribute('fill'),
        bar.querySelector('title').textContent])""")
    assert [href for href, _, _ in drawn] == [f"/decisions/{6 + i}"
                                              for i in range(len(decisions))]
    assert [fill for _, fill, _ in drawn] == [COLOURS[a] for a in actions]
    for (_, _, title), decision in zip(drawn, decisions, strict=True):
        assert f"{decision.action.value} ({decision.reason.value})" in title
    # Scores under it: a liveness dot for every decision that had a face.
    with_face = sum("liveness" in d.scores for d in decisions)
    assert page.locator("svg.timeline g > title", has_text="liveness").count() == with_face

    # The evidence thumbnails load (each decrypted on the server and recorded first).
    thumbs = page.locator("img.thumb")
    assert thumbs.count() >= 4
    for index in range(thumbs.count()):  # (no wait_for_function: the CSP forbids eval)
        expect(thumbs.nth(index)).to_have_js_property("naturalWidth", 160)
    shot = tmp_path / "timeline-real-session.png"
    page.screenshot(path=shot, full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / shot.name)
    shown = sorted(src.split("/")[2] for src in page.eval_on_selector_all(
        "img.thumb", "imgs => imgs.map(img => img.getAttribute('src'))"))
    lines = [json.loads(raw) for raw in console_app.audit_log.read_bytes().splitlines()]
    recorded = sorted(str(line["event"]["decision_seq"]) for line in lines
                      if line["type"] == "access" and line["event"]["access"] == "thumbnail")
    assert recorded == shown
    assert verify(console_app.audit_log).ok

    # A thumbnail opens its decision, whose page links back to the timeline.
    thumbs.first.click()
    expect(page.get_by_role("heading", name="Decision on line")).to_be_visible()
    page.get_by_role("link", name="this decision in its session").click()
    expect(page.get_by_role("heading", name=f"Timeline of session {SESSION}")).to_be_visible()
